#!/usr/bin/env python3
"""The testkit models as TorchScript: the same documented semantics as the ONNX testkit
(docs/testkit.md, lib/testkit/), written as PyTorch modules and compiled with
torch.jit.script, so that the libtorch runner of p2sam-native is tested against real
TorchScript archives with known answers.

    python3 python/p2sam_testkit_torch.py OUT_DIR
    → OUT_DIR/testkit-encoder.pt               (input_image form: f32[H,W,3] RGB 0..255)
      OUT_DIR/testkit-encoder-preprocessed.pt  (f32[1,3,1024,1024], normalised, padded)
      OUT_DIR/testkit-decoder.pt               (SAM v1 decoder interface, 4 masks)
      OUT_DIR/testkit-decoder-single.pt        (1 mask, samexporter's return_single_mask rule)
    with --fixtures also the refusal cases: fixture-wrong-signature.pt, fixture-cuda-only-encoder.pt,
      fixture-wrong-shape-decoder.pt, fixture-state-dict.pth (docs/testkit.md)

Only the 'basic' variants exist here (the 'sam-sized' ones are for ONNX benchmarks).
Each archive carries p2sam.json ({"kind": ..., "mask_outputs": ...}), which is how the
runner tells the encoder forms apart: a TorchScript signature has no tensor shapes.
Needs PyTorch only (Debian: apt-get install python3-torch).
"""
import json
import math
import os
import sys
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Constants of lib/testkit/encoder.ts and decoder.ts (TESTKIT_*_PARAMS); the TypeScript
# test compares both testkits' outputs, so a drift here fails there. TorchScript cannot
# read module-level Python numbers, so the scripted code below spells the numbers out:
# patch 16, grid 64 (4096 cells), 256 channels, logit scale 20, negative margin 0.05,
# box fill −1000, mask gain 0.2 / clip 10, stability δ 1, "no point" −2, box sentinel 1e9.
SAM_PIXEL_MEAN = [123.675, 116.28, 103.53]
SAM_PIXEL_STD = [58.395, 57.12, 57.375]
PATCH = 16
GRID = 64
CELLS = GRID * GRID
CHANNELS = 256
SIGMA = 0.8
ANCHOR_MARGIN = 0.25
SCALE = 20.0
THRESHOLDS = [0.25, 0.5, 0.25, 0.1]
NEGATIVE_MARGIN = 0.05
BOX_FILL = -1000.0
MASK_GAIN = 0.2
MASK_CLIP = 10.0
STABILITY_DELTA = 1.0
TOKEN_PRIOR = [1.0, 0.9, 1.0, 0.8]
NONE = -2.0
BIG = 1e9


def radical_inverse(index: int, base: int) -> float:
    f, r, i = 1.0, 0.0, index
    while i > 0:
        f /= base
        r += f * (i % base)
        i //= base
    return r


def anchors() -> torch.Tensor:
    """Halton points 1..256 (bases 2, 3, 5) over the widened normalised RGB cube, [256,3]."""
    out = []
    for j in range(CHANNELS):
        row = []
        for c, base in enumerate((2, 3, 5)):
            lo = (0 - SAM_PIXEL_MEAN[c]) / SAM_PIXEL_STD[c] - ANCHOR_MARGIN
            hi = (255 - SAM_PIXEL_MEAN[c]) / SAM_PIXEL_STD[c] + ANCHOR_MARGIN
            row.append(lo + (hi - lo) * radical_inverse(j + 1, base))
        out.append(row)
    # float64 maths, then float32 — as the TypeScript generator stores them.
    return torch.tensor(out, dtype=torch.float64).to(torch.float32)


class TestkitEncoder(nn.Module):
    """Mean colour of each 16×16 patch → 256 Gaussian RBF features (docs/testkit.md)."""

    def __init__(self, image_form: bool):
        super().__init__()
        self.image_form = image_form
        a = anchors().to(torch.float64)
        inv_s2 = 1.0 / (SIGMA * SIGMA)
        # ‖m − c‖² = ‖m‖² − 2c·m + ‖c‖²: one 1×1 convolution plus a per-cell term, like the ONNX graph.
        self.register_buffer("weight", (2 * a * inv_s2).to(torch.float32).reshape(256, 3, 1, 1))
        self.register_buffer("bias", (-(a * a).sum(1) * inv_s2).to(torch.float32))
        self.register_buffer("mean", torch.tensor(SAM_PIXEL_MEAN, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(SAM_PIXEL_STD, dtype=torch.float32))
        self.neg_inv_s2 = float(torch.tensor(-inv_s2, dtype=torch.float32))

    def forward(self, input_image: Tensor) -> Tensor:
        x = input_image
        if self.image_form:
            # [H,W,3] RGB 0..255 → normalised NCHW, zero-padded bottom/right to 1024².
            # Like the ONNX graph, a side over 1024 gives a negative pad, i.e. a crop.
            x = ((x - self.mean) / self.std).permute(2, 0, 1).unsqueeze(0)
            x = F.pad(x, [0, 1024 - x.shape[3], 0, 1024 - x.shape[2]])
        m = F.avg_pool2d(x, 16, 16)
        cross = F.conv2d(m, self.weight, self.bias)
        norm2 = (m * m).sum(1, keepdim=True)
        return torch.exp(cross + norm2 * self.neg_inv_s2)


def masked_max(values: Tensor, keep: Tensor) -> Tensor:
    """Max over the last axis of values [R,N] where keep [N] holds; -2.0 when none is kept."""
    masked = torch.where(keep.unsqueeze(0), values, torch.full_like(values, -2.0))
    sentinel = torch.full([values.shape[0], 1], -2.0, dtype=values.dtype, device=values.device)
    return torch.cat([masked, sentinel], 1).max(1)[0]


def cell_index(x: Tensor, y: Tensor) -> Tensor:
    cx = torch.clamp(torch.floor(x / 16), 0.0, 64 - 1.0)
    cy = torch.clamp(torch.floor(y / 16), 0.0, 64 - 1.0)
    return (cy * 64 + cx).to(torch.int64)


def corner(v: Tensor, keep: Tensor, fill: float, lowest: bool) -> Tensor:
    """Min (or max) of v where keep holds, or `fill` when nothing is kept (box corners)."""
    cand = torch.cat([torch.where(keep, v, torch.full_like(v, fill)), torch.full([1], fill, device=v.device)])
    return cand.min() if lowest else cand.max()


class TestkitDecoder(nn.Module):
    """Cosine similarity of cell features to the prompt points (docs/testkit.md, Decoder)."""

    def __init__(self, mask_outputs: int):
        super().__init__()
        self.mask_outputs = mask_outputs
        self.register_buffer("thresholds", torch.tensor(THRESHOLDS, dtype=torch.float32).reshape(4, 1))
        self.register_buffer("prior", torch.tensor(TOKEN_PRIOR, dtype=torch.float32))
        centres = torch.arange(64, dtype=torch.float32) * 16 + 16 / 2
        self.register_buffer("centre_x", centres.repeat(64))
        self.register_buffer("centre_y", centres.repeat_interleave(64))

    def forward(
        self,
        image_embeddings: Tensor,
        point_coords: Tensor,
        point_labels: Tensor,
        mask_input: Tensor,
        has_mask_input: Tensor,
        orig_im_size: Tensor,
    ) -> Tuple[Tensor, Tensor, Tensor]:
        rows = image_embeddings.reshape(256, 4096).t()
        feats = rows / torch.sqrt((rows * rows).sum(1, keepdim=True) + 1e-12)
        coords = point_coords.reshape(-1, 2)
        labels = point_labels.reshape(-1)
        px = coords[:, 0]
        py = coords[:, 1]
        sims = torch.matmul(feats, feats[cell_index(px, py)].t())  # [4096,N]
        is_pos = labels == 1
        is_tl = labels == 2
        is_br = labels == 3
        pos_points = masked_max(sims, is_pos)
        neg = masked_max(sims, labels == 0)

        x0 = corner(px, is_tl, 1e9, True)
        y0 = corner(py, is_tl, 1e9, True)
        x1 = corner(px, is_br, -1e9, False)
        y1 = corner(py, is_br, -1e9, False)
        has_box = bool(x0 < 1e9 / 2) and bool(x1 > -1e9 / 2)
        any_pos = bool(is_pos.any())
        pos = pos_points
        if has_box and not any_pos:
            centre = cell_index(((x0 + x1) * 0.5).reshape(1), ((y0 + y1) * 0.5).reshape(1))
            pos = torch.matmul(feats, feats[centre].t()).reshape(4096)

        threshold = torch.max(self.thresholds, (neg + 0.05).reshape(1, 4096))
        logits = (pos - threshold) * 20.0  # [4,4096]
        pooled = torch.clamp(F.avg_pool2d(mask_input, 4, 4), -10.0, 10.0)
        logits = logits + pooled.reshape(1, 4096) * has_mask_input * 0.2
        if has_box:
            inside = (self.centre_x >= x0) & (self.centre_x <= x1) & (self.centre_y >= y0) & (self.centre_y <= y1)
            logits = torch.where(inside.unsqueeze(0), logits, torch.full_like(logits, -1000.0))

        above = (logits > 1.0).to(torch.float32).sum(1)
        possible = (logits > -1.0).to(torch.float32).sum(1)
        iou = (above / (possible + 1.0) * self.prior).reshape(1, 4)
        if self.mask_outputs == 1:
            count = float(point_labels.shape[1])
            bias = torch.tensor([[1000.0, 0.0, 0.0, 0.0]], device=iou.device) * (count - 2.5)
            token = int(torch.argmax(iou + bias, 1)[0])
            logits = logits[token : token + 1]
            iou = iou[:, token : token + 1]
        c = logits.shape[0]
        low_res = F.interpolate(logits.reshape(1, c, 64, 64), size=[256, 256], mode="bilinear", align_corners=False)
        # SAM's post-processing: 256 → 1024, crop the padding away, then to (H, W).
        up = F.interpolate(low_res, size=[1024, 1024], mode="bilinear", align_corners=False)
        scale = 1024.0 / orig_im_size.max()
        resized = torch.floor(orig_im_size * scale + 0.5).to(torch.int64)
        up = up[:, :, : int(resized[0]), : int(resized[1])]
        size = orig_im_size.to(torch.int64)
        masks = F.interpolate(up, size=[int(size[0]), int(size[1])], mode="bilinear", align_corners=False)
        return masks, iou, low_res


class WrongSignature(nn.Module):
    """Fixture: a valid TorchScript module that is no SAM model (two inputs, one output)."""

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return 2 * x + y


class CudaOnlyEncoder(nn.Module):
    """Fixture: the encoder's interface, but its code moves the input to a CUDA device, as
    modules traced or scripted on a GPU do; it cannot run on a CPU-only libtorch."""

    def forward(self, input_image: Tensor) -> Tensor:
        x = input_image.to(torch.device("cuda"))
        return F.avg_pool2d(x, 16, 16).repeat(1, 86, 1, 1)[:, :256]


class WrongShapeDecoder(nn.Module):
    """Fixture: the decoder's exact signature, but iou_predictions of shape [1,3]."""

    def forward(
        self,
        image_embeddings: Tensor,
        point_coords: Tensor,
        point_labels: Tensor,
        mask_input: Tensor,
        has_mask_input: Tensor,
        orig_im_size: Tensor,
    ) -> Tuple[Tensor, Tensor, Tensor]:
        low = torch.zeros(1, 3, 256, 256)
        return low, torch.zeros(1, 3), low


def write_fixtures(out: str) -> None:
    torch.jit.save(torch.jit.script(WrongSignature()), os.path.join(out, "fixture-wrong-signature.pt"))
    save(CudaOnlyEncoder(), os.path.join(out, "fixture-cuda-only-encoder.pt"), {"kind": "sam-encoder-preprocessed"})
    torch.jit.save(torch.jit.script(WrongShapeDecoder()), os.path.join(out, "fixture-wrong-shape-decoder.pt"))
    # What training scripts save: weights without code (torch.save of a state dict).
    torch.save(TestkitEncoder(False).state_dict(), os.path.join(out, "fixture-state-dict.pth"))


def save(module: nn.Module, path: str, metadata: dict) -> None:
    scripted = torch.jit.script(module.eval())
    torch.jit.save(scripted, path, _extra_files={"p2sam.json": json.dumps(metadata)})


def main(argv) -> int:
    if len(argv) not in (2, 3) or (len(argv) == 3 and argv[2] != "--fixtures"):
        print(__doc__.strip().splitlines()[0] + "\nusage: p2sam_testkit_torch.py OUT_DIR [--fixtures]", file=sys.stderr)
        return 2
    out = argv[1]
    os.makedirs(out, exist_ok=True)
    save(TestkitEncoder(True), os.path.join(out, "testkit-encoder.pt"), {"kind": "sam-encoder-image"})
    save(TestkitEncoder(False), os.path.join(out, "testkit-encoder-preprocessed.pt"), {"kind": "sam-encoder-preprocessed"})
    save(TestkitDecoder(4), os.path.join(out, "testkit-decoder.pt"), {"kind": "sam-decoder", "mask_outputs": 4})
    save(TestkitDecoder(1), os.path.join(out, "testkit-decoder-single.pt"), {"kind": "sam-decoder", "mask_outputs": 1})
    if len(argv) == 3:
        write_fixtures(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
