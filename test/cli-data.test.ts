/**
 * The CLI on the real sample photos and CT slices in ../shared/data, with the testkit
 * model (no SAM weights exist on the test machines). The testkit encoder only sees patch
 * colours, so the masks are not expected to be good; what is checked is that real files
 * (large EXIF-tagged phone JPEGs, palette PNG masks, 8-bit grey CT) go through the whole
 * command without error and give well-formed outputs. The folder sits beside the project,
 * not inside it, so on a user's machine these tests skip, saying so.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, runCli, segmentArgs, tempDir, writeModel } from './cli-helpers';
import { SHARED_DATA as DATA } from './helpers';

const PERSEG = path.join(DATA, 'perseg-examples');
const CT = path.join(DATA, 'ct-slices');
const present = existsSync(PERSEG) && existsSync(CT);
if (!present)
  console.warn(
    `cli-data: skipping the real-data CLI tests: ${DATA} is not present (it ships beside the project, not in it)`,
  );

let work: string;
let model: { encoder: string; decoder: string };

beforeAll(async () => {
  if (!present) return;
  ensureBuilt();
  work = tempDir('data');
  model = await writeModel(path.join(work, 'model'));
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

async function checkMask(file: string, width: number, height: number): Promise<number> {
  const meta = await sharp(file).metadata();
  expect([meta.width, meta.height, meta.channels]).toEqual([width, height, 1]);
  // raw() would hand back sRGB unless told the file's own colourspace.
  const { data } = await sharp(file).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
  expect(data.length).toBe(width * height);
  // Count instead of one expect per pixel (4 M of them on a phone photo).
  let fg = 0;
  let other = 0;
  for (const v of data) {
    if (v === 255) fg++;
    else if (v !== 0) other++;
  }
  expect(other).toBe(0);
  return fg / data.length;
}

describe.skipIf(!present)('p2sam on the sample data (testkit model)', () => {
  it('segments the PerSeg sneaker photos from the _00 reference and evaluates them', async () => {
    const out = path.join(work, 'sneaker');
    const targets = ['colorful_sneaker_01', 'colorful_sneaker_02'];
    const r = await runCli(
      segmentArgs(
        model,
        {
          image: path.join(PERSEG, 'colorful_sneaker_00.jpg'),
          mask: path.join(PERSEG, 'colorful_sneaker_00.png'),
        },
        out,
        ['--parts', '1..3', '--json', '-q', ...targets.map((t) => path.join(PERSEG, `${t}.jpg`))],
      ),
    );
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const recs = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(recs.map((x) => x.name)).toEqual(targets);
    for (const rec of recs) {
      const meta = await sharp(path.join(PERSEG, `${rec.name}.jpg`)).metadata();
      // Outputs have the (upright) image's size.
      expect([rec.width, rec.height]).toEqual([meta.width, meta.height]);
      const cover = await checkMask(rec.outputs.mask, rec.width, rec.height);
      expect(cover).toBeGreaterThan(0);
      expect(cover).toBeLessThan(1);
      expect(existsSync(rec.outputs.overlay)).toBe(true);
    }
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    expect(report.status).toBe('ok');
    expect(report.reference.width).toBe(2048);

    const gt = path.join(work, 'sneaker-gt');
    mkdirSync(gt);
    for (const t of targets) copyFileSync(path.join(PERSEG, `${t}.png`), path.join(gt, `${t}.png`));
    const ev = await runCli(['eval', '--pred', out, '--gt', gt, '--json']);
    expect(ev.code).toBe(0);
    const res = JSON.parse(ev.stdout);
    expect(res.images).toHaveLength(2);
    for (const i of res.images) {
      expect(i.dice).toBeGreaterThanOrEqual(0);
      expect(i.dice).toBeLessThanOrEqual(1);
    }
    console.log(
      `cli-data: sneaker with the testkit model: Dice ${res.images.map((i: { dice: number }) => i.dice.toFixed(3)).join(', ')}`,
    );
  });

  it('segments the CT slice in medical mode', async () => {
    const out = path.join(work, 'ct');
    const r = await runCli(
      segmentArgs(
        model,
        { image: path.join(CT, 'ref_image.png'), mask: path.join(CT, 'ref_mask.png') },
        out,
        [
          '--mode',
          'medical',
          '--parts',
          '1..3',
          '--negatives',
          '1..2',
          '--json',
          '-q',
          path.join(CT, 'target_image.png'),
        ],
      ),
    );
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const rec = JSON.parse(r.stdout);
    expect(rec).toMatchObject({ name: 'target_image', width: 512, height: 512 });
    expect(rec.status === 'ok' || rec.status === 'empty').toBe(true);
    // Medical mode tries every (parts, background parts) pair: 3 × 2 candidates.
    expect(rec.candidates).toHaveLength(6);
    await checkMask(rec.outputs.mask, 512, 512);
    const ov = await sharp(rec.outputs.overlay).metadata();
    expect([ov.width, ov.height, ov.channels]).toEqual([512, 512, 3]);
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    expect(report.options).toMatchObject({ mode: 'medical', negatives: { min: 1, max: 2 } });
    expect(report.reference.negatives).toEqual([1, 2]);
  });
});
