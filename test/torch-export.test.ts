/**
 * `p2sam export` end to end: a tiny random-weight SAM of the real architecture
 * (python/p2sam_tiny_sam.py, built from segment_anything's own modules) is exported to
 * ONNX and TorchScript by the CLI, which checks every file against PyTorch; then both
 * pairs segment the same prompts through P2SAM and must agree with segment_anything's
 * own SamPredictor on the same image (mask IoU ≥ 0.99 on every channel).
 *
 * Needs a Python with torch and torchvision (Debian python3-torch, python3-torchvision)
 * and Meta's package at ../shared/vendor/segment-anything or P2SAM_SEGMENT_ANYTHING (a
 * test fixture, not part of the project).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { P2SAM } from '../lib';
import { torchBuildStatus } from '../lib/torch';
import { findTorchPython, PYTHON_DIR } from '../lib/torch-python';
import { maskIou, tempDir } from './helpers';

/** P2SAM_SEGMENT_ANYTHING, else shared/vendor/segment-anything beside the checkout or an ancestor of it. */
function vendorDir(): string {
  if (process.env.P2SAM_SEGMENT_ANYTHING) return process.env.P2SAM_SEGMENT_ANYTHING;
  for (let d = path.resolve(__dirname, '..'); d !== path.dirname(d); d = path.dirname(d)) {
    const candidate = path.join(path.dirname(d), 'shared', 'vendor', 'segment-anything');
    if (existsSync(candidate)) return candidate;
  }
  return path.resolve(__dirname, '../../shared/vendor/segment-anything');
}
const VENDOR = vendorDir();
const ready = torchBuildStatus().built && existsSync(path.join(VENDOR, 'segment_anything'));
if (!ready && process.env.P2SAM_REQUIRE_TORCH === '1')
  throw new Error(`P2SAM_REQUIRE_TORCH=1 but the torch addon or ${VENDOR} is missing`);

interface PredictorPrompt {
  points: [number, number][];
  labels: number[];
  box?: [number, number, number, number];
  iou: number[];
  masks: number[][];
}

function unRle(runs: number[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  runs.forEach((n, i) => {
    if (i % 2 === 1) out.fill(1, at, at + n);
    at += n;
  });
  expect(at).toBe(size);
  return out;
}

describe.skipIf(!ready)('p2sam export round trip on a tiny random SAM', () => {
  let dir: string;
  let cli: { status: number | null; stdout: string; stderr: string };
  let scene: { data: Uint8Array; width: number; height: number; channels: 3 };
  let predictor: { width: number; height: number; prompts: PredictorPrompt[] };

  beforeAll(() => {
    dir = tempDir('export');
    const python = findTorchPython();
    const built = spawnSync(
      python,
      [path.join(PYTHON_DIR, 'p2sam_tiny_sam.py'), dir, '--segment-anything', VENDOR],
      {
        encoding: 'utf8',
      },
    );
    expect(built.status, built.stderr).toBe(0);
    const main = path.resolve(__dirname, '../dist/lib/cli/main.js');
    const r = spawnSync(
      process.execPath,
      [
        main,
        'export',
        path.join(dir, 'tiny_sam.pth'),
        '--out',
        path.join(dir, 'models'),
        '--segment-anything',
        VENDOR,
        '--threads',
        '2',
        // Weights in .onnx.data beside each file, as ViT-H ships: the engine must find them.
        '--external-data',
      ],
      { encoding: 'utf8' },
    );
    cli = { status: r.status, stdout: r.stdout, stderr: r.stderr };
    predictor = JSON.parse(readFileSync(path.join(dir, 'predictor.json'), 'utf8'));
    const { width, height } = predictor;
    scene = { data: new Uint8Array(readFileSync(path.join(dir, 'scene.u8'))), width, height, channels: 3 };
  }, 600_000);

  it('exports every file and checks each against PyTorch, printing the relative errors', () => {
    expect(cli.status, cli.stderr).toBe(0);
    for (const file of [
      'encoder.pt',
      'decoder.pt',
      'encoder.onnx',
      'encoder-preprocessed.onnx',
      'decoder.onnx',
      'decoder-persam.onnx',
    ])
      expect(cli.stdout).toMatch(
        new RegExp(`check (tiny_sam\\.)?${file.replace('.', '\\.')}.*max relative error .* — ok`),
      );
    expect(cli.stdout).not.toMatch(/TOO LARGE/);
    expect(cli.stdout).toMatch(/SAM ViT \(custom size\), 2\.\d M parameters/);
    expect(existsSync(path.join(dir, 'models', 'tiny_sam.encoder.onnx.data'))).toBe(true);
  });

  for (const runtime of ['onnx', 'torchscript'] as const) {
    it(`${runtime}: P2SAM.predict gives SamPredictor's masks on every prompt (IoU ≥ 0.99)`, async () => {
      const m = path.join(dir, 'models', 'tiny_sam');
      const model = await P2SAM.load({
        encoder: runtime === 'onnx' ? `${m}.encoder.onnx` : `${m}.encoder.pt`,
        decoder: runtime === 'onnx' ? `${m}.decoder.onnx` : `${m}.decoder.pt`,
        threads: 2,
      });
      expect(model.info.encoder.runtime).toBe(runtime === 'onnx' ? 'onnxruntime' : 'libtorch');
      const embedding = await model.encode(scene);
      for (const p of predictor.prompts) {
        const r = await model.predict(embedding, {
          points: p.points.map(([x, y], i) => ({ x, y, label: p.labels[i] as 0 | 1 })),
          ...(p.box ? { box: p.box } : {}),
        });
        expect(r.channels).toBe(4);
        // SamPredictor: channel 0 = multimask_output=False, 1..3 = multimask_output=True.
        for (let c = 0; c < 4; c++) {
          const want = unRle(p.masks[c], scene.width * scene.height);
          expect(maskIou(r.masks[c], want)).toBeGreaterThanOrEqual(0.99);
          expect(Math.abs(r.iou[c] - p.iou[c])).toBeLessThan(1e-3);
        }
      }
      await model.dispose();
    });
  }
});
