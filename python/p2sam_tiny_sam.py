#!/usr/bin/env python3
"""A tiny random-weight SAM of the real architecture, for testing `p2sam export` and both
runners end to end without downloading weights.

    python3 python/p2sam_tiny_sam.py OUT_DIR [--seed N]
    → OUT_DIR/tiny_sam.pth        state dict (SAM layout: ViT image encoder, prompt encoder,
                                  two-way-transformer mask decoder)
      OUT_DIR/scene.u8            a 1024×768 RGB test image (uint8, H×W×3)
      OUT_DIR/predictor.json      SamPredictor's masks on prompts of that image (run-length
                                  encoded), the reference the runners are compared with

Built from segment_anything's own modules (ImageEncoderViT, PromptEncoder, MaskDecoder,
TwoWayTransformer), small where the contract allows: ViT width 64, depth 2 (one windowed,
one global block), 2 heads; the decoder keeps SAM's 256-channel interface with a narrow
MLP. Every parameter is drawn from a seeded normal so no table stays at its zero init.
Needs PyTorch and segment_anything on the path (PYTHONPATH or --segment-anything DIR).
"""
import argparse
import json
import os
import sys
from functools import partial

import torch


def rle(mask) -> list:
    """Run lengths of a flat 0/1 mask, starting with a run of zeros."""
    flat = mask.reshape(-1).to(torch.uint8).tolist()
    runs, current, count = [], 0, 0
    for v in flat:
        if v == current:
            count += 1
        else:
            runs.append(count)
            current, count = v, 1
    runs.append(count)
    return runs


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--segment-anything")
    args = ap.parse_args()
    if args.segment_anything:
        sys.path.insert(0, args.segment_anything)
    from segment_anything import SamPredictor
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    torch.manual_seed(args.seed)
    sam = Sam(
        image_encoder=ImageEncoderViT(depth=2, embed_dim=64, img_size=1024, mlp_ratio=2,
                                      norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), num_heads=2, patch_size=16,
                                      qkv_bias=True, use_rel_pos=True, global_attn_indexes=[1], window_size=14,
                                      out_chans=256),
        prompt_encoder=PromptEncoder(embed_dim=256, image_embedding_size=(64, 64), input_image_size=(1024, 1024),
                                     mask_in_chans=16),
        mask_decoder=MaskDecoder(num_multimask_outputs=3,
                                 transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=64, num_heads=8),
                                 transformer_dim=256, iou_head_depth=3, iou_head_hidden_dim=32),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    ).eval()
    with torch.no_grad():
        for name, p in sam.named_parameters():
            # LayerNorm scales near 1 keep activations in range; everything else random.
            if name.endswith("weight") and p.dim() == 1:
                p.copy_(1 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) * (0.5 / max(1, p.shape[-1]) ** 0.5))
    os.makedirs(args.out, exist_ok=True)
    torch.save(sam.state_dict(), os.path.join(args.out, "tiny_sam.pth"))

    # A scene with a few flat regions, so masks have structure; 1024 wide: no resize.
    h, w = 768, 1024
    g = torch.Generator().manual_seed(args.seed)
    img = torch.full((h, w, 3), 40, dtype=torch.uint8)
    img[100:400, 150:500] = torch.tensor([220, 40, 40], dtype=torch.uint8)
    img[300:700, 550:950] = torch.tensor([40, 200, 60], dtype=torch.uint8)
    img = (img.int() + torch.randint(-10, 11, (h, w, 3), generator=g)).clamp(0, 255).to(torch.uint8)
    img.numpy().tofile(os.path.join(args.out, "scene.u8"))

    predictor = SamPredictor(sam)
    predictor.set_image(img.numpy())
    prompts = [
        {"points": [[300, 250]], "labels": [1]},
        {"points": [[700, 500], [300, 250]], "labels": [1, 0]},
        {"points": [[420, 600]], "labels": [1], "box": [100, 80, 520, 420]},
    ]
    out = {"width": w, "height": h, "prompts": []}
    import numpy as np

    for pr in prompts:
        kw = {"point_coords": np.array(pr["points"], dtype=np.float32), "point_labels": np.array(pr["labels"])}
        if "box" in pr:
            kw["box"] = np.array(pr["box"], dtype=np.float32)
        single, single_iou, _ = predictor.predict(multimask_output=False, **kw)
        multi, multi_iou, _ = predictor.predict(multimask_output=True, **kw)
        masks = [torch.from_numpy(single[0])] + [torch.from_numpy(m) for m in multi]
        ious = [float(single_iou[0])] + [float(v) for v in multi_iou]
        out["prompts"].append({**pr, "iou": ious, "masks": [rle(m) for m in masks],
                               "areas": [int(m.sum()) for m in masks]})
    with open(os.path.join(args.out, "predictor.json"), "w") as f:
        json.dump(out, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
