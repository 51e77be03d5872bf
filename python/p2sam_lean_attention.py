"""Memory-lean global attention for segment_anything's ViT image encoder (export-time swap).

SAM's global-attention blocks attend over the whole 64×64 token grid: one (B·heads, 4096, 4096)
float score matrix, plus same-sized temporaries for the two relative-position additions and the
softmax — about 0.8 GB each for ViT-B, per block. Every row of those matrices depends only on
its own query token, so computing the rows a few image rows at a time gives exactly the same
function while only one slice of the scores exists at once. That is all this module does.

Use (the exporter's `--lean-attention`):

    from p2sam_lean_attention import make_attention_lean
    make_attention_lean(sam.image_encoder, rows_per_chunk=4)   # before torch.onnx.export / trace

`make_attention_lean` replaces the `forward` of each *global* attention block (the ones whose
relative-position tables span the whole grid; windowed blocks already work on 14×14 windows) by
`lean_attention_forward`, bound to that module instance. Parameters, state-dict keys and the
maths are unchanged; under tracing the per-chunk loop unrolls into Slice → MatMul → Add →
Softmax → MatMul per chunk and one Concat, which ONNX Runtime runs chunk after chunk, reusing
the freed score buffer. The same rewrite applied to an already exported graph lives in
lib/onnx/lean-attention.ts (`p2sam optimize`).
"""
import types

import torch
from segment_anything.modeling.image_encoder import get_rel_pos


def lean_attention_forward(self, x: torch.Tensor) -> torch.Tensor:
    """segment_anything Attention.forward computed `self.lean_rows` query rows at a time.

    Same operations as the original in the same order per score row (scale q, q·kᵀ, add the
    decomposed height and width terms, softmax over keys, ·v), so each row is the original
    row; only the query axis is cut.
    """
    B, H, W, _ = x.shape
    heads = self.num_heads
    qkv = self.qkv(x).reshape(B, H * W, 3, heads, -1).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.reshape(3, B * heads, H * W, -1).unbind(0)
    dim = q.shape[-1]
    kt = k.transpose(-2, -1)
    r_q = q.reshape(B * heads, H, W, dim)
    # segment_anything's own table lookup (and interpolation), so the terms are its terms.
    # Height/width terms for all queries are small (B·heads × 64 × 64 × 64); only the
    # 4096-wide score rows are worth cutting.
    rel_h = torch.einsum("bhwc,hkc->bhwk", r_q, get_rel_pos(H, H, self.rel_pos_h))
    rel_w = torch.einsum("bhwc,wkc->bhwk", r_q, get_rel_pos(W, W, self.rel_pos_w))
    rows = self.lean_rows
    outs = []
    for top in range(0, H, rows):
        n = min(rows, H - top)
        q_c = q[:, top * W:(top + n) * W]
        scores = (q_c * self.scale) @ kt
        scores = (
            scores.view(B * heads, n, W, H, W)
            + rel_h[:, top:top + n, :, :, None]
            + rel_w[:, top:top + n, :, None, :]
        ).view(B * heads, n * W, H * W)
        outs.append(scores.softmax(dim=-1) @ v)
    out = torch.cat(outs, dim=1)
    out = out.view(B, heads, H, W, -1).permute(0, 2, 3, 1, 4).reshape(B, H, W, -1)
    return self.proj(out)


def make_attention_lean(image_encoder: torch.nn.Module, rows_per_chunk: int = 4) -> list:
    """Swaps the forward of every global attention block of an ImageEncoderViT for the lean one.

    rows_per_chunk: image rows of queries per chunk. The default, 4 rows × 64 = 256 queries, is
    1/16 of the score matrix at a time — the same slice size as the graph rewrite's default of
    one head in 16 pieces, which measured a ViT-B whole-target peak of 1.8 GiB against 3.9 GiB
    (docs/performance.md); a quarter at a time (16 rows) left 2.2 GiB. Returns the names of the blocks
    changed, so the caller can report them. Raises ValueError for an encoder this does not fit
    (no rel-pos tables, or tables that would need interpolation).
    """
    if not isinstance(rows_per_chunk, int) or rows_per_chunk < 1:
        raise ValueError(f"rows_per_chunk: expected a positive integer, received {rows_per_chunk!r}")
    changed = []
    for i, block in enumerate(getattr(image_encoder, "blocks", [])):
        attn = block.attn
        if getattr(block, "window_size", 0) != 0:
            continue  # windowed block: 14×14 windows, nothing large to cut
        if not getattr(attn, "use_rel_pos", False):
            raise ValueError(f"blocks.{i}.attn has no relative-position tables; not SAM's global attention")
        attn.lean_rows = rows_per_chunk
        attn.forward = types.MethodType(lean_attention_forward, attn)
        changed.append(f"blocks.{i}.attn")
    if not changed:
        raise ValueError("the encoder has no global attention blocks (window_size 0); nothing to make lean")
    return changed
