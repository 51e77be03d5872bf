/**
 * `p2sam export CHECKPOINT --out DIR`: a SAM / MedSAM / MobileSAM checkpoint to the model
 * files the engine runs (docs/export.md). The conversion is PyTorch's, so it runs in
 * Python (python/p2sam_export.py); that script checks the TorchScript files itself, and
 * leaves a probe (inputs and PyTorch's outputs) that this command then runs through every
 * exported ONNX file with ONNX Runtime, printing the maximum relative error of each output.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import type * as OrtModule from 'onnxruntime-node';
import { P2SamError } from '../errors';
import { findTorchPython, PYTHON_DIR } from '../torch-python';
import type { CliIO } from './io';

/** Tolerance of the ONNX checks: max |onnx − torch| / max |torch| per output. */
export const EXPORT_TOLERANCE = 1e-3;

interface Probe {
  image: string;
  imageShape: [number, number, number];
  embedding: string;
  point_coords: string;
  point_labels: string;
  mask_input: string;
  attn_sim: string;
  target_embedding: string;
  points: number[];
  labels: number[];
  masks: string;
  iou_predictions: string;
  low_res_masks: string;
  persam_iou_predictions: string;
  persam_low_res_masks: string;
}

interface ExportManifest {
  family: string;
  medsam: boolean;
  files: { onnx?: Record<string, string>; torchscript?: Record<string, string> };
  probe?: Probe;
}

function readF32(dir: string, file: string): Float32Array {
  const b = readFileSync(path.join(dir, file));
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

function relativeError(got: Float32Array, want: Float32Array): number {
  if (got.length !== want.length) return Number.POSITIVE_INFINITY;
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    worst = Math.max(worst, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return worst / (scale > 0 ? scale : 1);
}

function runPython(args: string[], io: CliIO): Promise<number> {
  const python = findTorchPython();
  return new Promise((resolve, reject) => {
    const child = spawn(python, [path.join(PYTHON_DIR, 'p2sam_export.py'), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d: Buffer) => io.stdout.write(d.toString()));
    child.stderr.on('data', (d: Buffer) => io.stderr.write(d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
}

/**
 * Runs the exported ONNX files on the probe with ONNX Runtime; returns false when any
 * output is further from PyTorch's than EXPORT_TOLERANCE.
 */
/**
 * onnxruntime-node's JS API, loaded only here: it is a devDependency / optional peer of the
 * published package (288 MB; the addon carries its own ONNX Runtime), needed only to check
 * exports independently of the addon.
 */
function loadOnnxRuntimeJs(): typeof OrtModule {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('onnxruntime-node') as typeof OrtModule;
  } catch (err) {
    throw new P2SamError(
      'INVALID_ARGUMENT',
      "p2sam export checks the ONNX files it writes with onnxruntime-node, which is not installed: run 'ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node@1.30.0'",
      { cause: err },
    );
  }
}

export async function checkOnnxExports(
  outDir: string,
  manifest: ExportManifest,
  probeDir: string,
  io: CliIO,
): Promise<boolean> {
  const files = manifest.files.onnx ?? {};
  const p = manifest.probe;
  if (!p) return true;
  const ort = loadOnnxRuntimeJs();
  let ok = true;
  const report = (what: string, errors: Record<string, number>) => {
    const worst = Math.max(...Object.values(errors));
    const good = worst <= EXPORT_TOLERANCE;
    ok &&= good;
    const parts = Object.entries(errors)
      .map(([k, e]) => `${k} ${e.toExponential(2)}`)
      .join(', ');
    io.stdout.write(
      `  check ${what} (ONNX Runtime ${ort.env.versions.common}): max relative error ${parts} — ${good ? 'ok' : 'TOO LARGE'} (tolerance ${EXPORT_TOLERANCE})\n`,
    );
  };
  const tensor = (file: string, dims: number[]) => new ort.Tensor('float32', readF32(probeDir, file), dims);
  const embedding = readF32(probeDir, p.embedding);
  const pixels = readFileSync(path.join(probeDir, p.image));
  const [h, w] = p.imageShape;
  const run = async (file: string, feeds: Record<string, OrtModule.Tensor>) => {
    const session = await ort.InferenceSession.create(path.join(outDir, file));
    try {
      return await session.run(feeds);
    } finally {
      await session.release();
    }
  };
  const out = (r: OrtModule.InferenceSession.OnnxValueMapType, name: string) => r[name].data as Float32Array;
  if (files.encoder) {
    const input = new ort.Tensor('float32', Float32Array.from(pixels), [h, w, 3]);
    const r = await run(files.encoder, { input_image: input });
    report(files.encoder, { image_embeddings: relativeError(out(r, 'image_embeddings'), embedding) });
  }
  if (files.encoderPreprocessed) {
    // SAM's normalisation, NCHW; the probe image is 1024² so there is no padding.
    const mean = [123.675, 116.28, 103.53];
    const std = [58.395, 57.12, 57.375];
    const x = new Float32Array(3 * h * w);
    for (let c = 0; c < 3; c++)
      for (let i = 0; i < h * w; i++) x[c * h * w + i] = (pixels[i * 3 + c] - mean[c]) / std[c];
    const r = await run(files.encoderPreprocessed, {
      input_image: new ort.Tensor('float32', x, [1, 3, h, w]),
    });
    report(files.encoderPreprocessed, {
      image_embeddings: relativeError(out(r, 'image_embeddings'), embedding),
    });
  }
  const n = p.labels.length;
  const feeds: Record<string, OrtModule.Tensor> = {
    image_embeddings: new ort.Tensor('float32', embedding, [1, 256, 64, 64]),
    point_coords: tensor(p.point_coords, [1, n, 2]),
    point_labels: tensor(p.point_labels, [1, n]),
    mask_input: tensor(p.mask_input, [1, 1, 256, 256]),
    has_mask_input: new ort.Tensor('float32', Float32Array.of(1), [1]),
    orig_im_size: new ort.Tensor('float32', Float32Array.of(h, w), [2]),
  };
  if (files.decoder) {
    const r = await run(files.decoder, feeds);
    report(files.decoder, {
      masks: relativeError(out(r, 'masks'), readF32(probeDir, p.masks)),
      iou_predictions: relativeError(out(r, 'iou_predictions'), readF32(probeDir, p.iou_predictions)),
      low_res_masks: relativeError(out(r, 'low_res_masks'), readF32(probeDir, p.low_res_masks)),
    });
  }
  if (files.decoderPersam) {
    const r = await run(files.decoderPersam, {
      ...feeds,
      attn_sim: tensor(p.attn_sim, [1, 1, 1, 4096]),
      target_embedding: tensor(p.target_embedding, [1, 1, 256]),
    });
    report(`${files.decoderPersam} (attn_sim, target_embedding)`, {
      iou_predictions: relativeError(out(r, 'iou_predictions'), readF32(probeDir, p.persam_iou_predictions)),
      low_res_masks: relativeError(out(r, 'low_res_masks'), readF32(probeDir, p.persam_low_res_masks)),
    });
  }
  return ok;
}

export function exportCommand(io: CliIO, setExit: (code: number) => void): Command {
  return new Command('export')
    .description(
      'convert a SAM / MedSAM / MobileSAM checkpoint (.pth) to ONNX and TorchScript models, checked against PyTorch',
    )
    .argument('<checkpoint>', 'PyTorch weights (.pth), e.g. sam_vit_b_01ec64.pth')
    .requiredOption('-o, --out <dir>', 'output directory (created if missing)')
    .option('--name <stem>', "file name stem (default: the checkpoint's)")
    .option('--formats <list>', 'onnx, torchscript, or both', 'onnx,torchscript')
    .option('--encoder-form <form>', 'ONNX encoder input: image, preprocessed or both', 'both')
    .option(
      '--medsam',
      'a MedSAM checkpoint: preprocessed-form encoder only (segment with normalization medsam)',
    )
    .option('--no-persam', 'skip the decoder with PerSAM attn_sim / target_embedding inputs')
    .option(
      '--external-data',
      'keep ONNX weights in a .onnx.data file beside each model (automatic above 2 GB)',
    )
    .option(
      '--segment-anything <dir>',
      'directory containing the segment_anything package (if not installed)',
    )
    .option('--mobile-sam <dir>', 'directory containing the mobile_sam package (MobileSAM checkpoints)')
    .option('--threads <n>', 'PyTorch CPU threads')
    .action(async (checkpoint: string, flags: Record<string, unknown>) => {
      if (!existsSync(checkpoint))
        throw new P2SamError('MODEL_NOT_FOUND', `export: no checkpoint at '${checkpoint}'`);
      const probeDir = mkdtempSync(path.join(os.tmpdir(), 'p2sam-export-probe-'));
      try {
        const args = [
          checkpoint,
          '--out',
          String(flags.out),
          '--probe-dir',
          probeDir,
          '--formats',
          String(flags.formats),
        ];
        args.push('--encoder-form', String(flags.encoderForm));
        if (flags.name) args.push('--name', String(flags.name));
        if (flags.medsam) args.push('--medsam');
        if (flags.persam === false) args.push('--no-persam');
        if (flags.externalData) args.push('--external-data');
        if (flags.segmentAnything) args.push('--segment-anything', String(flags.segmentAnything));
        if (flags.mobileSam) args.push('--mobile-sam', String(flags.mobileSam));
        if (flags.threads) args.push('--threads', String(flags.threads));
        const code = await runPython(args, io);
        if (code !== 0) {
          setExit(code === 2 ? 2 : 1);
          return;
        }
        const stem = String(flags.name ?? path.basename(checkpoint).replace(/\.[^.]+$/, ''));
        const manifest = JSON.parse(
          readFileSync(path.join(String(flags.out), `${stem}.export.json`), 'utf8'),
        ) as ExportManifest;
        const ok = await checkOnnxExports(String(flags.out), manifest, probeDir, io);
        setExit(ok ? 0 : 1);
      } finally {
        rmSync(probeDir, { recursive: true, force: true });
      }
    });
}
