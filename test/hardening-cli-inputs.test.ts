/**
 * Issue 15 — the CLI, tried as a new user would, must notice inputs that are not what
 * they look like instead of producing confident nonsense:
 * - `eval --gt` on a folder of images (not masks) paired a CT image with a prediction
 *   and reported Dice 0.79: a ground truth or mask must be binary / label-like;
 * - `--ref-image` and `--ref-mask` swapped were accepted;
 * - a target folder with masks in it segmented the masks;
 * - a 12-bit CT stored in a 16-bit PNG without `--window` became nearly black;
 * - `--window` on an 8-bit image was applied silently.
 * Each is refused (exit 2) or warned about with a message that says what to do.
 */
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, runCli, tempDir, writeModel, writeSequence, segmentArgs } from './cli-helpers';

let work: string;
let model: { encoder: string; decoder: string };
let frames: string;
let gt: string;
const NAMES = ['a0', 'a1', 'a2'];

beforeAll(async () => {
  ensureBuilt();
  work = tempDir('hardening-cli-in');
  model = await writeModel(path.join(work, 'model'));
  frames = path.join(work, 'frames');
  gt = path.join(work, 'gt');
  await writeSequence(['ref', ...NAMES], frames, gt, { seed: 9 });
}, 120_000);

function seg(refImage: string, refMask: string, out: string, extra: string[]): string[] {
  return segmentArgs(model, { image: refImage, mask: refMask }, out, ['--parts', '1..2', ...extra]);
}

describe('inputs that are not what they look like', () => {
  it('eval --gt pointing at images (not masks) is refused', async () => {
    const pred = path.join(work, 'pred');
    mkdirSync(pred, { recursive: true });
    for (const n of NAMES) copyFileSync(path.join(gt, `${n}.png`), path.join(pred, `${n}.mask.png`));
    const r = await runCli(['eval', '--pred', pred, '--gt', frames]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not a (binary|label) mask|not binary/i);
    expect(r.stderr).toMatch(/--gt/);
  });

  it('--ref-image and --ref-mask swapped are refused, saying so', async () => {
    const r = await runCli(
      seg(path.join(gt, 'ref.png'), path.join(frames, 'ref.png'), path.join(work, 'out-swap'), [
        path.join(frames, 'a0.png'),
      ]),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/swap/i);
  });

  it('masks inside a target folder are not segmented', async () => {
    const mixed = path.join(work, 'mixed');
    mkdirSync(mixed, { recursive: true });
    for (const n of NAMES) {
      copyFileSync(path.join(frames, `${n}.png`), path.join(mixed, `${n}.png`));
      copyFileSync(path.join(gt, `${n}.png`), path.join(mixed, `${n}.mask.png`));
    }
    const out = path.join(work, 'out-mixed');
    const r = await runCli(
      seg(path.join(frames, 'ref.png'), path.join(gt, 'ref.png'), out, ['--json', '--no-overlay', mixed]),
    );
    expect(r.code, r.stderr).toBe(0);
    const records = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(records.map((x) => path.basename(x.file)).sort()).toEqual(NAMES.map((n) => `${n}.png`));
    expect(readdirSync(out).filter((f) => f.includes('.mask.mask'))).toEqual([]);
    expect(r.stderr).toMatch(/mask/i);
  });

  it('a 12-bit CT in a 16-bit PNG without --window gets a warning that names --window', async () => {
    const ct = path.join(work, 'ct');
    mkdirSync(ct, { recursive: true });
    // The reference and target frames as 12-bit data (0..4095) in 16-bit grey PNGs.
    for (const n of ['ref', 'a0']) {
      const { data, info } = await sharp(path.join(frames, `${n}.png`))
        .greyscale()
        .raw()
        .toBuffer({ resolveWithObject: true });
      // A Uint16Array, so sharp takes the raw samples as 16-bit.
      const g16 = new Uint16Array(info.width * info.height);
      for (let i = 0; i < g16.length; i++) g16[i] = Math.round((data[i]! / 255) * 4095);
      await sharp(g16, { raw: { width: info.width, height: info.height, channels: 1 } })
        .toColourspace('grey16')
        .png()
        .toFile(path.join(ct, `${n}.png`));
    }
    const r = await runCli(
      seg(path.join(ct, 'ref.png'), path.join(gt, 'ref.png'), path.join(work, 'out-ct'), [
        '--json',
        path.join(ct, 'a0.png'),
      ]),
    );
    expect(r.stderr).toMatch(/12-bit|4095/);
    expect(r.stderr).toMatch(/--window/);
  });

  it('--window on 8-bit images is called out', async () => {
    const r = await runCli(
      seg(path.join(frames, 'ref.png'), path.join(gt, 'ref.png'), path.join(work, 'out-win8'), [
        '--json',
        '--window',
        '0,4095',
        path.join(frames, 'a0.png'),
      ]),
    );
    expect(r.stderr).toMatch(/--window/);
    expect(r.stderr).toMatch(/8-bit/);
  });
});
