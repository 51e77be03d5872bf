import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeMaskPng } from '../lib/io/image';
import { ensureBuilt, runCli, tempDir } from './cli-helpers';

/**
 * Hand-made 10×10 masks with known counts:
 *   A: gt = 4×4 square at (0,0); pred = the same square shifted 2 px right.
 *      TP 8, FP 8, FN 8 → Dice 16/32 = 0.5, IoU 8/24 = 1/3.
 *   B: gt = pred = a 5×2 bar (10 px) → Dice 1, IoU 1. The gt is written with value 1
 *      (0/1 PNG), the prediction as a palette PNG: any non-zero pixel is foreground.
 *   C: both empty → 1 by default, 0 with --empty-empty 0.
 *   D: gt = 20 px, pred empty → Dice 0, IoU 0.
 * Per image means: Dice (0.5 + 1 + 1 + 0) / 4 = 0.625, IoU (1/3 + 1 + 1 + 0) / 4 = 7/12.
 * Classes cat = {A, B}, dog = {C, D}:
 *   pooled IoU cat = (8 + 10) / (24 + 10) = 18/34, dog = (0 + 0) / (0 + 20) = 0
 *   → PerSeg mIoU = (18/34 + 0) / 2 × 100 = 26.470588…
 *   mean Dice per class: cat 0.75, dog 0.5 → mean over classes 0.625.
 */
const W = 10;
const H = 10;

function rect(x0: number, y0: number, w: number, h: number): Uint8Array {
  const m = new Uint8Array(W * H);
  for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) m[y * W + x] = 1;
  return m;
}

const masks = {
  A: { gt: rect(0, 0, 4, 4), pred: rect(2, 0, 4, 4) },
  B: { gt: rect(2, 5, 5, 2), pred: rect(2, 5, 5, 2) },
  C: { gt: new Uint8Array(W * H), pred: new Uint8Array(W * H) },
  D: { gt: rect(0, 0, 5, 4), pred: new Uint8Array(W * H) },
};

async function write01(file: string, m: Uint8Array): Promise<void> {
  await sharp(Buffer.from(m), { raw: { width: W, height: H, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toFile(file);
}

async function writePalette(file: string, m: Uint8Array): Promise<void> {
  const rgb = Buffer.alloc(W * H * 3);
  for (let i = 0; i < m.length; i++) if (m[i]) rgb.set([200, 30, 30], i * 3);
  await sharp(rgb, { raw: { width: W, height: H, channels: 3 } })
    .png({ palette: true })
    .toFile(file);
}

let work: string;

async function writeSet(gtDir: string, predDir: string, names: (keyof typeof masks)[]): Promise<void> {
  mkdirSync(gtDir, { recursive: true });
  mkdirSync(predDir, { recursive: true });
  for (const n of names) {
    const m = masks[n];
    const d = { width: W, height: H };
    if (n === 'B') {
      await write01(path.join(gtDir, `${n}.png`), m.gt);
      // `<name>.png` is accepted as well as `<name>.mask.png`.
      await writePalette(path.join(predDir, `${n}.png`), m.pred);
    } else {
      await writeMaskPng(path.join(gtDir, `${n}.png`), { data: m.gt, ...d });
      await writeMaskPng(path.join(predDir, `${n}.mask.png`), { data: m.pred, ...d });
    }
  }
}

beforeAll(async () => {
  ensureBuilt();
  work = tempDir('eval');
  await writeSet(path.join(work, 'flat', 'gt'), path.join(work, 'flat', 'pred'), ['A', 'B', 'C', 'D']);
  // Files that must not be scored: an overlay, a prediction without gt, a gt without prediction.
  await writeMaskPng(path.join(work, 'flat', 'pred', 'A.overlay.png'), {
    data: rect(0, 0, 10, 10),
    width: W,
    height: H,
  });
  await writeMaskPng(path.join(work, 'flat', 'pred', 'extra.mask.png'), {
    data: rect(0, 0, 10, 10),
    width: W,
    height: H,
  });
  await writeMaskPng(path.join(work, 'flat', 'gt', 'reference.png'), {
    data: rect(0, 0, 3, 3),
    width: W,
    height: H,
  });

  await writeSet(path.join(work, 'cls', 'gt', 'cat'), path.join(work, 'cls', 'pred', 'cat'), ['A', 'B']);
  await writeSet(path.join(work, 'cls', 'gt', 'dog'), path.join(work, 'cls', 'pred', 'dog'), ['C', 'D']);
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** `p2sam eval` on one of the fixture sets (work/<set>/pred against work/<set>/gt). */
function evalArgs(set: string, ...extra: string[]): string[] {
  return ['eval', '--pred', path.join(work, set, 'pred'), '--gt', path.join(work, set, 'gt'), ...extra];
}

describe('p2sam eval', () => {
  it('computes per-image Dice/IoU and their means by hand-checked counts (--json)', async () => {
    const r = await runCli(evalArgs('flat', '--json'));
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    const res = JSON.parse(lines[0]!);
    const by = Object.fromEntries(res.images.map((i: { name: string }) => [i.name, i]));
    expect(Object.keys(by)).toEqual(['A', 'B', 'C', 'D']);
    expect(by.A).toMatchObject({ tp: 8, fp: 8, fn: 8, dice: 0.5 });
    expect(by.A.iou).toBeCloseTo(1 / 3, 12);
    expect(by.B).toMatchObject({ tp: 10, fp: 0, fn: 0, dice: 1, iou: 1 });
    expect(by.C).toMatchObject({ tp: 0, fp: 0, fn: 0, dice: 1, iou: 1 });
    expect(by.D).toMatchObject({ tp: 0, fp: 0, fn: 20, dice: 0, iou: 0 });
    expect(res.mean.images).toBe(4);
    expect(res.mean.dice).toBeCloseTo(0.625, 12);
    expect(res.mean.iou).toBeCloseTo(7 / 12, 12);
    expect(res.unmatched.gt.map((f: string) => path.basename(f))).toEqual(['reference.png']);
    expect(res.unmatched.pred.map((f: string) => path.basename(f))).toEqual(['extra.mask.png']);
    expect(res.classes).toBeUndefined();
  });

  it("applies the authors' empty/empty rule with --empty-empty 0", async () => {
    const r = await runCli(evalArgs('flat', '--json', '--empty-empty', '0'));
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res.emptyEmpty).toBe(0);
    expect(res.mean.dice).toBeCloseTo((0.5 + 1 + 0 + 0) / 4, 12);
  });

  it('pools IoU per class (PerSeg mIoU) and averages per-class means with --classes-from-dirs', async () => {
    const r = await runCli(evalArgs('cls', '--classes-from-dirs', '--json'));
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res.classes.map((c: { class: string }) => c.class)).toEqual(['cat', 'dog']);
    const [cat, dog] = res.classes;
    expect(cat.images).toBe(2);
    expect(cat.pooledIou).toBeCloseTo(18 / 34, 12);
    expect(cat.meanDice).toBeCloseTo(0.75, 12);
    expect(dog.pooledIou).toBe(0);
    expect(dog.meanDice).toBeCloseTo(0.5, 12);
    expect(res.persegMiou).toBeCloseTo((18 / 34 / 2) * 100, 10);
    expect(res.sequenceMean.dice).toBeCloseTo(0.625, 12);
  });

  it('prints a readable table without --json', async () => {
    const r = await runCli(evalArgs('cls', '--classes-from-dirs'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^class\s+image\s+Dice\s+IoU$/m);
    expect(r.stdout).toMatch(/^cat\s+A\s+0\.5000\s+0\.3333$/m);
    expect(r.stdout).toContain('mean over 4 images: Dice 0.6250, IoU 0.5833');
    expect(r.stdout).toContain('PerSeg mIoU (pooled per class, 2 classes): 26.47');
  });

  it('exits 2 naming both sizes when a prediction does not fit its ground truth', async () => {
    const gt = path.join(work, 'size', 'gt');
    const pred = path.join(work, 'size', 'pred');
    mkdirSync(gt, { recursive: true });
    mkdirSync(pred, { recursive: true });
    await writeMaskPng(path.join(gt, 'x.png'), { data: rect(0, 0, 2, 2), width: W, height: H });
    await writeMaskPng(path.join(pred, 'x.mask.png'), { data: new Uint8Array(12 * 7), width: 12, height: 7 });
    const r = await runCli(['eval', '--pred', pred, '--gt', gt]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/mask 12×7 does not match image 10×10.*x\.mask\.png/);
  });

  it('exits 2 when nothing pairs up, or a folder is missing', async () => {
    const empty = path.join(work, 'nothing');
    mkdirSync(empty, { recursive: true });
    writeFileSync(path.join(empty, 'notes.txt'), 'no masks here');
    const none = await runCli(['eval', '--pred', empty, '--gt', path.join(work, 'flat', 'gt')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--pred: no prediction in .* matches a ground-truth file/);
    const missing = await runCli([
      'eval',
      '--pred',
      path.join(work, 'nope'),
      '--gt',
      path.join(work, 'flat', 'gt'),
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--pred: no such directory '.*nope'/);
    const noGt = await runCli(['eval', '--pred', empty]);
    expect(noGt.code).toBe(2);
    expect(noGt.stderr).toMatch(/required option '--gt <dir>' not specified/);
  });
});
