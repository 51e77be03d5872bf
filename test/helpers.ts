/** Shared test fixtures: the testkit model written once per test file, synthetic scenes, data paths. */
import { mkdtempSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeTestkitModel } from '../lib/testkit';
import { makeScene, type Scene } from '../lib/testkit/scenes';
import type { ImageData, MaskData } from '../lib/types';

export const SHARED_DATA = path.resolve(__dirname, '../../shared/data');
export const HAS_SHARED_DATA = existsSync(SHARED_DATA);

/** A fresh directory under the OS temp folder, named `p2sam-<tag>-XXXXXX` so leftovers are easy to spot. */
export function tempDir(tag = 'test'): string {
  return mkdtempSync(path.join(os.tmpdir(), `p2sam-${tag}-`));
}

/**
 * The engine tests' scene set: one reference and three targets of the same object (seed 3),
 * each target moved, rescaled and given its own noise, so retrieval must cope with position
 * and scale changes. Shared so the ONNX and TorchScript runners are judged on the same scenes.
 *
 * @example
 *   const { width: W, height: H, reference, targets } = partScenes();
 */
export function partScenes(): { width: number; height: number; reference: Scene; targets: Scene[] } {
  const width = 640;
  const height = 480;
  const scene = (center: [number, number], scale: number, noiseSeed?: number) =>
    makeScene({ width, height, seed: 3, noiseSeed, center, scale });
  return {
    width,
    height,
    reference: scene([0.45, 0.5], 0.5),
    targets: [scene([0.55, 0.5], 0.5, 11), scene([0.5, 0.45], 0.6, 12), scene([0.42, 0.55], 0.5, 13)],
  };
}

let modelPaths: Promise<{ encoder: string; decoder: string }> | undefined;
/** The basic testkit pair, written once per test file (each file runs in its own process). */
export function testkitModel(): Promise<{ encoder: string; decoder: string }> {
  modelPaths ??= writeTestkitModel(path.join(tempDir(), 'model'));
  return modelPaths;
}

/** An RGB image of a flat colour with rectangles painted on it. */
export function paintImage(
  width: number,
  height: number,
  background: [number, number, number],
  rects: { x0: number; y0: number; x1: number; y1: number; color: [number, number, number] }[],
): ImageData {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(background, i * 3);
  for (const r of rects)
    for (let y = r.y0; y < r.y1; y++)
      for (let x = r.x0; x < r.x1; x++) data.set(r.color, (y * width + x) * 3);
  return { data, width, height, channels: 3 };
}

export function rectMask(
  width: number,
  height: number,
  rects: { x0: number; y0: number; x1: number; y1: number }[],
): MaskData {
  const data = new Uint8Array(width * height);
  for (const r of rects) for (let y = r.y0; y < r.y1; y++) data.fill(1, y * width + r.x0, y * width + r.x1);
  return { data, width, height };
}

export function maskIou(a: Uint8Array, b: Uint8Array): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] !== 0;
    const y = b[i] !== 0;
    if (x && y) inter++;
    if (x || y) union++;
  }
  return union === 0 ? 1 : inter / union;
}

export function area(m: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < m.length; i++) if (m[i]) n++;
  return n;
}
