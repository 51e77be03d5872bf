#!/usr/bin/env python3
"""A random-weight SAM ViT image encoder of the real architecture, exported to ONNX the usual way.

    PYTHONPATH=/path/to/segment-anything python3 python/p2sam_vit_encoder.py {tiny,vit_b,vit_l,vit_h} OUT.onnx
        [--seed N] [--lean-attention ROWS] [--check]

The encoder is segment_anything's own ImageEncoderViT with the configuration of build_sam's
vit_b / vit_l / vit_h (or `tiny`: width 64, depth 2 — one windowed and one global block, 2 heads —
the same global-attention structure with rel-pos over the full 64×64 grid, small weights). It is
exported like samexporter / Meta's notebooks do: preprocessed input f32[1,3,1024,1024] named
`image`, output `image_embeddings` f32[1,256,64,64], opset 17, constant folding on, static
shapes. With --lean-attention ROWS the global blocks use p2sam_lean_attention's chunked forward
(ROWS image rows of queries per chunk) — the export-time form of the same rewrite that
lib/onnx/lean-attention.ts applies to an existing graph.

Weights are drawn from a seeded normal (LayerNorm scales near 1) so no table stays at its zero
init — in particular the rel-pos tables, whose terms the rewrite must carry. --check prints the
largest relative difference between the lean and the original PyTorch encoders on one input.
This is for tests and benchmarks only; real exports are `p2sam export`'s job.
"""
import argparse
import os
import sys
from functools import partial

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# build_sam.py's three configurations; `tiny` keeps the structure at toy width.
CONFIGS = {
    "tiny": dict(embed_dim=64, depth=2, num_heads=2, global_attn_indexes=[1], mlp_ratio=2.0),
    "vit_b": dict(embed_dim=768, depth=12, num_heads=12, global_attn_indexes=[2, 5, 8, 11], mlp_ratio=4.0),
    "vit_l": dict(embed_dim=1024, depth=24, num_heads=16, global_attn_indexes=[5, 11, 17, 23], mlp_ratio=4.0),
    "vit_h": dict(embed_dim=1280, depth=32, num_heads=16, global_attn_indexes=[7, 15, 23, 31], mlp_ratio=4.0),
}


def build_encoder(name: str, seed: int) -> torch.nn.Module:
    from segment_anything.modeling import ImageEncoderViT

    c = CONFIGS[name]
    torch.manual_seed(seed)
    enc = ImageEncoderViT(
        depth=c["depth"], embed_dim=c["embed_dim"], img_size=1024, mlp_ratio=c["mlp_ratio"],
        norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), num_heads=c["num_heads"], patch_size=16,
        qkv_bias=True, use_rel_pos=True, global_attn_indexes=c["global_attn_indexes"], window_size=14,
        out_chans=256,
    ).eval()
    with torch.no_grad():
        for pname, p in enc.named_parameters():
            if pname.endswith("weight") and p.dim() == 1:
                p.copy_(1 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) * (0.5 / max(1, p.shape[-1]) ** 0.5))
    return enc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("config", choices=sorted(CONFIGS))
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--lean-attention", type=int, metavar="ROWS")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()

    enc = build_encoder(args.config, args.seed)
    if args.lean_attention:
        from p2sam_lean_attention import make_attention_lean

        reference = build_encoder(args.config, args.seed) if args.check else None
        changed = make_attention_lean(enc, args.lean_attention)
        print(f"lean attention ({args.lean_attention} rows per chunk) in {', '.join(changed)}")
        if reference is not None:
            x = torch.randn(1, 3, 1024, 1024, generator=torch.Generator().manual_seed(1))
            with torch.no_grad():
                a, b = reference(x), enc(x)
            rel = ((a - b).abs().max() / a.abs().max()).item()
            print(f"lean vs original PyTorch encoder: max |diff| / max |ref| = {rel:.3g}")
    x = torch.zeros(1, 3, 1024, 1024)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(enc, x, args.out, input_names=["image"], output_names=["image_embeddings"],
                          opset_version=17, do_constant_folding=True)
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
