#!/usr/bin/env python3
"""p2sam export: a SAM-family PyTorch checkpoint (.pth) → the model files p2sam-native runs.

    python3 python/p2sam_export.py CHECKPOINT --out DIR [options]     (or: p2sam export ...)

Writes, for NAME (default: the checkpoint's file name without extension):
  NAME.encoder.onnx                 image form: input_image f32[H,W,3] RGB 0..255, long side 1024
  NAME.encoder-preprocessed.onnx    f32[1,3,1024,1024], normalised and padded outside (MedSAM: the only form)
  NAME.decoder.onnx                 SAM's ONNX decoder interface, 4 mask outputs
  NAME.decoder-persam.onnx          the same plus PerSAM's attn_sim [1,1,1,4096] and target_embedding [1,1,256]
  NAME.encoder.pt / NAME.decoder.pt the TorchScript pair (traced encoder, scripted decoder)
and checks every file against the PyTorch model it came from (maximum relative error,
printed). TorchScript files are checked here by loading them back; ONNX files are checked
by `p2sam export` with the engine's own ONNX Runtime from the probe this script leaves in
--probe-dir (this Python needs no onnxruntime).

The architecture is read from the checkpoint's weights (embedding width, depth, heads,
window size and global-attention blocks of the ViT; the decoder's MLP widths), so SAM
ViT-B/L/H, MedSAM (a ViT-B; pass --medsam) and fine-tuned variants need no flags.
MobileSAM's TinyViT encoder is not part of segment_anything: pass --mobile-sam DIR, the
directory that contains the `mobile_sam` package (github.com/ChaoningZhang/MobileSAM).

Needs PyTorch (Debian: apt-get install python3-torch) and Meta's segment_anything package
(pip install segment-anything, or --segment-anything DIR pointing at a checkout); writing
external data (--external-data, automatic above 2 GB) needs the onnx package (Debian:
python3-onnx).
"""
import argparse
import json
import math
import os
import re
import sys
import time
import warnings
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# A protobuf message cannot exceed 2 GiB; ViT-H's encoder (2.5 GB of weights) must keep its
# weights in a side file.
PROTOBUF_LIMIT = 2**31 - 1
OPSET = 17


def fail(message: str, code: int = 1):
    print(f"p2sam export: {message}", file=sys.stderr)
    sys.exit(code)


# ---- reading a checkpoint --------------------------------------------------------------


def load_state_dict(path: str) -> dict:
    try:
        obj = torch.load(path, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad checkpoint
        fail(f"cannot read '{path}' as a PyTorch checkpoint: {e}")
    if isinstance(obj, torch.jit.ScriptModule):
        fail(f"'{path}' is already a TorchScript module; give P2SAM.load it directly")
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    # Training scripts often wrap the weights: {'model': ...} / {'state_dict': ...}.
    for key in ("model", "state_dict"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        fail(f"'{path}' does not hold a state dict of tensors")
    # DataParallel prefixes.
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def count_indexed(sd: dict, prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    found = {int(m.group(1)) for k in sd for m in [pattern.match(k)] if m}
    return max(found) + 1 if found else 0


def infer_vit(sd: dict) -> dict:
    """ImageEncoderViT hyper-parameters from its weights."""
    dim = sd["image_encoder.patch_embed.proj.weight"].shape[0]
    depth = count_indexed(sd, "image_encoder.blocks.")
    rel = sd.get("image_encoder.blocks.0.attn.rel_pos_h")
    if rel is None:
        fail("the ViT has no relative position tables (use_rel_pos=False): not a SAM image encoder")
    heads = dim // rel.shape[1]
    window, global_blocks = 0, []
    for i in range(depth):
        side = (sd[f"image_encoder.blocks.{i}.attn.rel_pos_h"].shape[0] + 1) // 2
        if side == 64:  # global attention over the whole 64×64 token grid
            global_blocks.append(i)
        else:
            window = side
    return {
        "embed_dim": dim,
        "depth": depth,
        "num_heads": heads,
        "global_attn_indexes": global_blocks,
        "window_size": window,
        "out_chans": sd["image_encoder.neck.0.weight"].shape[0],
        "mlp_ratio": sd["image_encoder.blocks.0.mlp.lin1.weight"].shape[0] / dim,
    }


def infer_decoder(sd: dict) -> dict:
    return {
        "transformer_depth": count_indexed(sd, "mask_decoder.transformer.layers."),
        "mlp_dim": sd["mask_decoder.transformer.layers.0.mlp.lin1.weight"].shape[0],
        "iou_head_depth": count_indexed(sd, "mask_decoder.iou_prediction_head.layers."),
        "iou_head_hidden_dim": sd["mask_decoder.iou_prediction_head.layers.0.weight"].shape[0],
        "num_multimask_outputs": sd["mask_decoder.mask_tokens.weight"].shape[0] - 1,
    }


def build_sam(sd: dict, args) -> Tuple[nn.Module, str]:
    """The Sam module for these weights, and the family name printed in the report."""
    from functools import partial

    try:
        from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer
    except ImportError as e:
        fail(f"cannot import segment_anything ({e}); pip install segment-anything, or pass --segment-anything DIR")
    if "image_encoder.patch_embed.proj.weight" in sd and "image_encoder.blocks.0.attn.qkv.weight" in sd:
        vit = infer_vit(sd)
        family = {768: "SAM ViT-B", 1024: "SAM ViT-L", 1280: "SAM ViT-H"}.get(vit["embed_dim"], "SAM ViT (custom size)")
        if args.medsam:
            family = "MedSAM (" + family + ")"
        encoder = ImageEncoderViT(
            depth=vit["depth"],
            embed_dim=vit["embed_dim"],
            img_size=1024,
            mlp_ratio=vit["mlp_ratio"],
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=vit["num_heads"],
            patch_size=16,
            qkv_bias=True,
            use_rel_pos=True,
            global_attn_indexes=vit["global_attn_indexes"],
            window_size=vit["window_size"],
            out_chans=vit["out_chans"],
        )
    elif any(k.startswith("image_encoder.patch_embed.seq") for k in sd):
        family = "MobileSAM (TinyViT)"
        if args.mobile_sam:
            sys.path.insert(0, args.mobile_sam)
        try:
            from mobile_sam.modeling import TinyViT  # the MobileSAM authors' package
        except ImportError as e:
            fail(f"this is a MobileSAM checkpoint (TinyViT encoder), which needs the mobile_sam package ({e}); "
                 "pass --mobile-sam DIR (a checkout of github.com/ChaoningZhang/MobileSAM)")
        encoder = TinyViT(img_size=1024, in_chans=3, num_classes=1000, embed_dims=[64, 128, 160, 320],
                          depths=[2, 2, 6, 2], num_heads=[2, 4, 5, 10], window_sizes=[7, 7, 14, 7], mlp_ratio=4.0,
                          drop_rate=0.0, drop_path_rate=0.0, use_checkpoint=False, mbconv_expand_ratio=4.0,
                          local_conv_size=3, layer_lr_decay=0.8)
    else:
        fail("the checkpoint has neither a SAM ViT image encoder (image_encoder.blocks.*) nor MobileSAM's TinyViT")
    dec = infer_decoder(sd)
    sam = Sam(
        image_encoder=encoder,
        prompt_encoder=PromptEncoder(embed_dim=256, image_embedding_size=(64, 64), input_image_size=(1024, 1024),
                                     mask_in_chans=16),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=dec["num_multimask_outputs"],
            transformer=TwoWayTransformer(depth=dec["transformer_depth"], embedding_dim=256, mlp_dim=dec["mlp_dim"],
                                          num_heads=8),
            transformer_dim=256,
            iou_head_depth=dec["iou_head_depth"],
            iou_head_hidden_dim=dec["iou_head_hidden_dim"],
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    missing, unexpected = sam.load_state_dict(sd, strict=False)
    if missing or unexpected:
        fail(f"the weights do not fit the inferred {family} architecture: missing {missing[:5]}, "
             f"unexpected {unexpected[:5]}")
    return sam.eval(), family


# ---- the modules that are exported -----------------------------------------------------


class EncoderPreprocessed(nn.Module):
    """f32[1,3,1024,1024] (normalised, padded) → image_embeddings [1,256,64,64]."""

    def __init__(self, sam):
        super().__init__()
        self.image_encoder = sam.image_encoder

    def forward(self, input_image: Tensor) -> Tensor:
        return self.image_encoder(input_image)


class EncoderImage(nn.Module):
    """input_image f32[H,W,3] RGB 0..255, long side 1024 → [1,256,64,64]: SAM's normalisation
    and bottom/right zero padding inside the model, as samexporter's encoders do."""

    def __init__(self, sam, image_encoder: nn.Module):
        super().__init__()
        self.register_buffer("pixel_mean", sam.pixel_mean.reshape(3).clone())
        self.register_buffer("pixel_std", sam.pixel_std.reshape(3).clone())
        self.image_encoder = image_encoder

    def forward(self, input_image: Tensor) -> Tensor:
        x = ((input_image - self.pixel_mean) / self.pixel_std).permute(2, 0, 1).unsqueeze(0)
        x = F.pad(x, [0, 1024 - x.shape[3], 0, 1024 - x.shape[2]])
        return self.image_encoder(x)


class GuidedAttention(nn.Module):
    """SAM's Attention with the same weights, plus PerSAM's target-guided term: when
    attn_sim is given, attn = softmax(softmax(q·kᵀ/√d) + attn_sim) (SPEC §2.10)."""

    def __init__(self, attention):
        super().__init__()
        self.q_proj = attention.q_proj
        self.k_proj = attention.k_proj
        self.v_proj = attention.v_proj
        self.out_proj = attention.out_proj
        self.num_heads: int = attention.num_heads

    def split(self, x: Tensor) -> Tensor:
        b, n, c = x.shape[0], x.shape[1], x.shape[2]
        return x.reshape(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)

    def forward(self, q: Tensor, k: Tensor, v: Tensor, attn_sim: Optional[Tensor]) -> Tensor:
        q = self.split(self.q_proj(q))
        k = self.split(self.k_proj(k))
        v = self.split(self.v_proj(v))
        attn = torch.softmax(q @ k.permute(0, 1, 3, 2) / math.sqrt(q.shape[3]), dim=-1)
        if attn_sim is not None:
            attn = torch.softmax(attn + attn_sim, dim=-1)
        out = (attn @ v).transpose(1, 2)
        return self.out_proj(out.reshape(out.shape[0], out.shape[1], out.shape[2] * out.shape[3]))


class GuidedBlock(nn.Module):
    """One TwoWayAttentionBlock over its own weights; attn_sim enters token→image only."""

    def __init__(self, block):
        super().__init__()
        self.self_attn = GuidedAttention(block.self_attn)
        self.norm1 = block.norm1
        self.cross_attn_token_to_image = GuidedAttention(block.cross_attn_token_to_image)
        self.norm2 = block.norm2
        self.mlp = block.mlp
        self.norm3 = block.norm3
        self.norm4 = block.norm4
        self.cross_attn_image_to_token = GuidedAttention(block.cross_attn_image_to_token)
        self.skip_first_layer_pe: bool = block.skip_first_layer_pe

    def forward(self, queries: Tensor, keys: Tensor, query_pe: Tensor, key_pe: Tensor,
                attn_sim: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
        if self.skip_first_layer_pe:
            queries = self.self_attn(queries, queries, queries, None)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q, q, queries, None)
        queries = self.norm1(queries)
        q = queries + query_pe
        k = keys + key_pe
        queries = self.norm2(queries + self.cross_attn_token_to_image(q, k, keys, attn_sim))
        queries = self.norm3(queries + self.mlp(queries))
        q = queries + query_pe
        k = keys + key_pe
        keys = self.norm4(keys + self.cross_attn_image_to_token(k, q, queries, None))
        return queries, keys


class DecoderCore(nn.Module):
    """SAM's prompt encoder + mask decoder as one scriptable module over the checkpoint's
    weights, with SamOnnxModel's conventions (coordinates in the 1024 frame, label −1 =
    padding point, has_mask_input gate) and PerSAM's optional inputs."""

    def __init__(self, sam):
        super().__init__()
        pe = sam.prompt_encoder
        md = sam.mask_decoder
        self.register_buffer("gaussian", pe.pe_layer.positional_encoding_gaussian_matrix.clone())
        self.register_buffer("point_embeds", torch.cat([e.weight for e in pe.point_embeddings], 0).clone())
        self.register_buffer("not_a_point", pe.not_a_point_embed.weight.clone())
        self.register_buffer("no_mask", pe.no_mask_embed.weight.reshape(1, -1, 1, 1).clone())
        with torch.no_grad():
            self.register_buffer("dense_pe", pe.get_dense_pe().clone())
        self.mask_downscaling = pe.mask_downscaling
        self.register_buffer("output_tokens", torch.cat([md.iou_token.weight, md.mask_tokens.weight], 0).clone())
        self.blocks = nn.ModuleList([GuidedBlock(b) for b in md.transformer.layers])
        self.final_attn = GuidedAttention(md.transformer.final_attn_token_to_image)
        self.norm_final = md.transformer.norm_final_attn
        self.output_upscaling = md.output_upscaling
        self.hyper_mlps = md.output_hypernetworks_mlps
        self.iou_head = md.iou_prediction_head
        self.num_mask_tokens: int = md.num_mask_tokens
        self.num_point_embeds: int = len(pe.point_embeddings)

    def embed_points(self, point_coords: Tensor, point_labels: Tensor) -> Tensor:
        coords = 2 * ((point_coords + 0.5) / 1024.0) - 1
        coords = 2 * math.pi * (coords @ self.gaussian)
        emb = torch.cat([torch.sin(coords), torch.cos(coords)], dim=-1)
        labels = point_labels.unsqueeze(-1)
        emb = emb * (labels != -1).to(emb.dtype) + self.not_a_point * (labels == -1).to(emb.dtype)
        for i in range(self.num_point_embeds):
            emb = emb + self.point_embeds[i] * (labels == i).to(emb.dtype)
        return emb

    def forward(self, image_embeddings: Tensor, point_coords: Tensor, point_labels: Tensor, mask_input: Tensor,
                has_mask_input: Tensor, attn_sim: Optional[Tensor],
                target_embedding: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
        sparse = self.embed_points(point_coords, point_labels)
        dense = has_mask_input * self.mask_downscaling(mask_input) + (1 - has_mask_input) * self.no_mask
        tokens = torch.cat([self.output_tokens.unsqueeze(0), sparse], dim=1)
        src = image_embeddings + dense
        b, c, h, w = src.shape[0], src.shape[1], src.shape[2], src.shape[3]
        keys = src.flatten(2).permute(0, 2, 1)
        key_pe = self.dense_pe.flatten(2).permute(0, 2, 1)
        query_pe = tokens
        if target_embedding is not None:
            # PerSAM adds the target embedding to the queries in place before the first
            # block, and the queries are the very tensor used as their positional
            # encoding: from then on the encoding is tokens + target_embedding (SPEC §2.10).
            query_pe = tokens + target_embedding
        queries = query_pe
        first = True
        for block in self.blocks:
            if target_embedding is not None and not first:
                queries = queries + target_embedding
            queries, keys = block(queries, keys, query_pe, key_pe, attn_sim)
            first = False
        q = queries + query_pe
        if target_embedding is not None:
            q = q + target_embedding
        queries = self.norm_final(queries + self.final_attn(q, keys + key_pe, keys, None))
        iou = self.iou_head(queries[:, 0, :])
        mask_tokens = queries[:, 1:1 + self.num_mask_tokens, :]
        upscaled = self.output_upscaling(keys.transpose(1, 2).reshape(b, c, h, w))
        hyper: List[Tensor] = []
        for i, mlp in enumerate(self.hyper_mlps):
            hyper.append(mlp(mask_tokens[:, i, :]))
        hyper_in = torch.stack(hyper, dim=1)
        ub, uc, uh, uw = upscaled.shape[0], upscaled.shape[1], upscaled.shape[2], upscaled.shape[3]
        masks = (hyper_in @ upscaled.reshape(ub, uc, uh * uw)).reshape(ub, -1, uh, uw)
        return masks, iou


def postprocess_scripted(low_res: Tensor, orig_im_size: Tensor) -> Tensor:
    """SAM's mask post-processing (256 → 1024, crop the padding, → H×W) for TorchScript,
    which needs Python ints for slicing and sizes."""
    up = F.interpolate(low_res, size=[1024, 1024], mode="bilinear", align_corners=False)
    scale = 1024.0 / orig_im_size.max()
    resized = torch.floor(orig_im_size * scale + 0.5).to(torch.int64)
    up = up[:, :, : int(resized[0]), : int(resized[1])]
    size = orig_im_size.to(torch.int64)
    return F.interpolate(up, size=[int(size[0]), int(size[1])], mode="bilinear", align_corners=False)


class ScriptedDecoder(nn.Module):
    """The TorchScript decoder: exactly the SAM ONNX decoder's inputs and outputs."""

    def __init__(self, sam):
        super().__init__()
        self.core = DecoderCore(sam)

    def forward(self, image_embeddings: Tensor, point_coords: Tensor, point_labels: Tensor, mask_input: Tensor,
                has_mask_input: Tensor, orig_im_size: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        low_res, iou = self.core(image_embeddings, point_coords, point_labels, mask_input, has_mask_input, None, None)
        return postprocess_scripted(low_res, orig_im_size), iou, low_res


def onnx_decoder_classes():
    from segment_anything.utils.onnx import SamOnnxModel

    class PerSamOnnxDecoder(SamOnnxModel):
        """SamOnnxModel (4 masks) with PerSAM's two extra inputs, for ONNX tracing."""

        def __init__(self, sam):
            super().__init__(sam, return_single_mask=False)
            self.core = DecoderCore(sam)

        def forward(self, image_embeddings, point_coords, point_labels, mask_input, has_mask_input, orig_im_size,
                    attn_sim, target_embedding):
            masks, scores = self.core(image_embeddings, point_coords, point_labels, mask_input, has_mask_input,
                                      attn_sim, target_embedding)
            return self.mask_postprocessing(masks, orig_im_size), scores, masks

    return SamOnnxModel, PerSamOnnxDecoder


# ---- probes and checks -----------------------------------------------------------------


def probe_inputs(seed: int = 7):
    g = torch.Generator().manual_seed(seed)
    image = torch.randint(0, 256, (1024, 1024, 3), generator=g, dtype=torch.uint8)
    decoder = {
        "point_coords": torch.tensor([[[300.0, 420.0], [610.0, 200.0], [0.0, 0.0]]]),
        "point_labels": torch.tensor([[1.0, 0.0, -1.0]]),
        "mask_input": torch.randn(1, 1, 256, 256, generator=g),
        "has_mask_input": torch.tensor([1.0]),
        "orig_im_size": torch.tensor([1024.0, 1024.0]),
        "attn_sim": torch.sigmoid(torch.randn(1, 1, 1, 4096, generator=g)),
        "target_embedding": torch.randn(1, 1, 256, generator=g) * 0.1,
    }
    return image, decoder


def relative_error(got: Tensor, want: Tensor) -> float:
    """max |got − want| / max |want|: error relative to the output's own range."""
    scale = want.abs().max().item()
    return (got - want).abs().max().item() / (scale if scale > 0 else 1.0)


def report(what: str, errors: dict, tolerance: float) -> bool:
    worst = max(errors.values())
    parts = ", ".join(f"{k} {v:.2e}" for k, v in errors.items())
    ok = worst <= tolerance
    print(f"  check {what}: max relative error {parts} — {'ok' if ok else 'TOO LARGE'} (tolerance {tolerance:g})")
    return ok


def save_probe(probe_dir: str, name: str, tensor: Tensor) -> str:
    path = os.path.join(probe_dir, name + ".f32" if tensor.dtype != torch.uint8 else name + ".u8")
    tensor.detach().contiguous().cpu().numpy().tofile(path)
    return os.path.basename(path)


def export_onnx(module: nn.Module, args_tuple, path: str, input_names, output_names, dynamic_axes, external: bool):
    t0 = time.time()
    out_dir = os.path.dirname(os.path.abspath(path))
    before = set(os.listdir(out_dir))
    with torch.no_grad():
        torch.onnx.export(module, args_tuple, path, input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, opset_version=OPSET, do_constant_folding=True)
    # Above 2 GB torch writes each weight to its own file beside the .onnx; gather them into
    # one NAME.onnx.data (as ViT-H exports ship) and remove the loose files.
    loose = sorted(set(os.listdir(out_dir)) - before - {os.path.basename(path)})
    if external or loose or os.path.getsize(path) > PROTOBUF_LIMIT:
        try:
            import onnx
        except ImportError:
            fail("external data needs the onnx Python package (Debian: apt-get install python3-onnx)")
        model = onnx.load(path)  # reads the loose weight files, if any
        data_name = os.path.basename(path) + ".data"
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True, location=data_name,
                        size_threshold=1024)
        for name in loose:
            if name != data_name:
                os.remove(os.path.join(out_dir, name))
        print(f"  wrote {path} (+ {data_name}, external data) in {time.time() - t0:.1f} s")
    else:
        print(f"  wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB) in {time.time() - t0:.1f} s")
    try:
        import onnx

        onnx.checker.check_model(path)
    except ImportError:
        pass


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="p2sam export", description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="SAM / MedSAM / MobileSAM / fine-tuned SAM weights (.pth)")
    ap.add_argument("--out", required=True, help="directory for the model files")
    ap.add_argument("--name", help="file name stem (default: the checkpoint's)")
    ap.add_argument("--formats", default="onnx,torchscript", help="onnx, torchscript or both (default)")
    ap.add_argument("--encoder-form", choices=["image", "preprocessed", "both"], default="both",
                    help="ONNX encoder input form(s); MedSAM exports only 'preprocessed'")
    ap.add_argument("--no-persam", action="store_true", help="skip the decoder with PerSAM's inputs")
    ap.add_argument("--medsam", action="store_true",
                    help="a MedSAM checkpoint: preprocessed-form encoder only (segment with normalization 'medsam')")
    ap.add_argument("--external-data", action="store_true",
                    help="keep ONNX weights in NAME.*.onnx.data (automatic above 2 GB)")
    ap.add_argument("--segment-anything", help="directory containing the segment_anything package")
    ap.add_argument("--mobile-sam", help="directory containing the mobile_sam package (MobileSAM checkpoints)")
    ap.add_argument("--probe-dir", help="where to leave the ONNX check's inputs and PyTorch outputs")
    ap.add_argument("--threads", type=int, default=0, help="PyTorch CPU threads (default: all cores)")
    args = ap.parse_args(argv)
    # Tracing SAM warns about every Python-side shape computation it bakes in; those are
    # all fixed by the 1024² contract, and the checks below compare the results anyway.
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    if args.segment_anything:
        sys.path.insert(0, args.segment_anything)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    formats = {f.strip() for f in args.formats.split(",") if f.strip()}
    if not formats or not formats <= {"onnx", "torchscript"}:
        fail(f"--formats must name onnx and/or torchscript, got '{args.formats}'")
    if not os.path.isfile(args.checkpoint):
        fail(f"no checkpoint at '{args.checkpoint}'")
    os.makedirs(args.out, exist_ok=True)
    name = args.name or os.path.splitext(os.path.basename(args.checkpoint))[0]
    stem = os.path.join(args.out, name)

    sd = load_state_dict(args.checkpoint)
    sam, family = build_sam(sd, args)
    params = sum(p.numel() for p in sam.parameters())
    print(f"p2sam export: {family}, {params / 1e6:.1f} M parameters, from {args.checkpoint}")
    forms = ["preprocessed"] if args.medsam else (["image", "preprocessed"] if args.encoder_form == "both"
                                                   else [args.encoder_form])
    image, dec_in = probe_inputs()
    manifest = {"family": family, "medsam": args.medsam, "files": {}}
    ok = True
    with torch.no_grad():
        # PyTorch's own answers on the probe, from the un-exported modules.
        x_pre = sam.preprocess(image.permute(2, 0, 1).unsqueeze(0).float())
        ref_embedding = sam.image_encoder(x_pre)
        core = DecoderCore(sam).eval()
        ref_low, ref_iou = core(ref_embedding, dec_in["point_coords"], dec_in["point_labels"], dec_in["mask_input"],
                                dec_in["has_mask_input"], None, None)
        ref_masks = postprocess_scripted(ref_low, dec_in["orig_im_size"])
        ref_p_low, ref_p_iou = core(ref_embedding, dec_in["point_coords"], dec_in["point_labels"],
                                    dec_in["mask_input"], dec_in["has_mask_input"], dec_in["attn_sim"],
                                    dec_in["target_embedding"])
    # The scripted decoder reimplements SAM's decoder over its weights: check it against
    # SAM's own modules (PromptEncoder + MaskDecoder) before anything is written.
    with torch.no_grad():
        from segment_anything.utils.onnx import SamOnnxModel

        sam_masks, sam_iou, sam_low = SamOnnxModel(sam, return_single_mask=False)(
            ref_embedding, dec_in["point_coords"], dec_in["point_labels"], dec_in["mask_input"],
            dec_in["has_mask_input"], dec_in["orig_im_size"])
    ok &= report("decoder reimplementation vs segment_anything's SamOnnxModel",
                 {"low_res_masks": relative_error(ref_low, sam_low), "iou_predictions": relative_error(ref_iou, sam_iou)},
                 1e-4)

    if "torchscript" in formats:
        print("TorchScript:")
        with torch.no_grad():
            traced = torch.jit.trace(sam.image_encoder, torch.zeros(1, 3, 1024, 1024))
        encoder_form = "preprocessed" if args.medsam else "image"
        if encoder_form == "image":
            enc_ts = torch.jit.script(EncoderImage(sam, traced).eval())
            kind = "sam-encoder-image"
        else:
            enc_ts = traced  # the traced image_encoder takes the preprocessed tensor itself
            kind = "sam-encoder-preprocessed"
        meta = {"kind": kind, "family": family, "exporter": "p2sam export"}
        torch.jit.save(enc_ts, stem + ".encoder.pt", _extra_files={"p2sam.json": json.dumps(meta)})
        dec_ts = torch.jit.script(ScriptedDecoder(sam).eval())
        torch.jit.save(dec_ts, stem + ".decoder.pt",
                       _extra_files={"p2sam.json": json.dumps({"kind": "sam-decoder", "mask_outputs": 4,
                                                               "family": family, "exporter": "p2sam export"})})
        print(f"  wrote {stem}.encoder.pt ({kind}) and {stem}.decoder.pt")
        enc_back = torch.jit.load(stem + ".encoder.pt")
        dec_back = torch.jit.load(stem + ".decoder.pt")
        with torch.no_grad():
            got = enc_back(image.float() if encoder_form == "image" else x_pre)
            masks, iou, low = dec_back(ref_embedding, dec_in["point_coords"], dec_in["point_labels"],
                                       dec_in["mask_input"], dec_in["has_mask_input"], dec_in["orig_im_size"])
        ok &= report("encoder.pt", {"image_embeddings": relative_error(got, ref_embedding)}, 1e-4)
        ok &= report("decoder.pt", {"masks": relative_error(masks, ref_masks), "iou_predictions":
                                    relative_error(iou, ref_iou), "low_res_masks": relative_error(low, ref_low)}, 1e-4)
        manifest["files"]["torchscript"] = {"encoder": name + ".encoder.pt", "decoder": name + ".decoder.pt",
                                            "encoderForm": encoder_form}

    if "onnx" in formats:
        print("ONNX:")
        files = {}
        for form in forms:
            path = stem + (".encoder.onnx" if form == "image" else ".encoder-preprocessed.onnx")
            if form == "image":
                module, example = EncoderImage(sam, sam.image_encoder).eval(), torch.zeros(768, 1024, 3)
                axes = {"input_image": {0: "image_height", 1: "image_width"}}
            else:
                module, example = EncoderPreprocessed(sam).eval(), torch.zeros(1, 3, 1024, 1024)
                axes = None
            export_onnx(module, (example,), path, ["input_image"], ["image_embeddings"], axes, args.external_data)
            files["encoder" if form == "image" else "encoderPreprocessed"] = os.path.basename(path)
        SamOnnx, PerSamOnnx = onnx_decoder_classes()
        names6 = ["image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input", "orig_im_size"]
        outs = ["masks", "iou_predictions", "low_res_masks"]
        axes = {"point_coords": {1: "num_points"}, "point_labels": {1: "num_points"}}
        dec_args = tuple([ref_embedding] + [dec_in[n] for n in names6[1:]])
        export_onnx(SamOnnx(sam, return_single_mask=False).eval(), dec_args, stem + ".decoder.onnx", names6, outs,
                    axes, False)
        files["decoder"] = name + ".decoder.onnx"
        if not args.no_persam:
            export_onnx(PerSamOnnx(sam).eval(), dec_args + (dec_in["attn_sim"], dec_in["target_embedding"]),
                        stem + ".decoder-persam.onnx", names6 + ["attn_sim", "target_embedding"], outs, axes, False)
            files["decoderPersam"] = name + ".decoder-persam.onnx"
        manifest["files"]["onnx"] = files
        if args.probe_dir:
            os.makedirs(args.probe_dir, exist_ok=True)
            probe = {"image": save_probe(args.probe_dir, "image", image), "imageShape": [1024, 1024, 3]}
            probe["embedding"] = save_probe(args.probe_dir, "embedding", ref_embedding)
            for k in ["point_coords", "point_labels", "mask_input", "attn_sim", "target_embedding"]:
                probe[k] = save_probe(args.probe_dir, k, dec_in[k])
            probe["points"] = dec_in["point_coords"].reshape(-1).tolist()
            probe["labels"] = dec_in["point_labels"].reshape(-1).tolist()
            for k, t in {"masks": ref_masks, "iou_predictions": ref_iou, "low_res_masks": ref_low,
                         "persam_iou_predictions": ref_p_iou, "persam_low_res_masks": ref_p_low}.items():
                probe[k] = save_probe(args.probe_dir, k, t)
            manifest["probe"] = probe
            print(f"  probe for the ONNX checks in {args.probe_dir}")
    with open(stem + ".export.json", "w") as f:
        json.dump(manifest, f, indent=2)
    if not ok:
        fail("an exported model differs from the PyTorch model beyond the tolerance (see above)", 3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
