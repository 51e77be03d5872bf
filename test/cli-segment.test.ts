/** `p2sam segment` run as a user would: outputs, report.json, exit codes, streams and signals. */
import { spawn, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMask, writeMaskPng } from '../lib/io/image';
import { dice } from '../lib/metrics';
import { CLI, ensureBuilt, runCli, tempDir, writeModel, writeSequence, segmentArgs } from './cli-helpers';

let work: string;
let model: { encoder: string; decoder: string };
let refImage: string;
let refMask: string;
const TARGETS = ['frame1', 'frame2', 'frame9', 'frame10'];

beforeAll(async () => {
  ensureBuilt();
  work = tempDir('segment');
  model = await writeModel(path.join(work, 'model'));
  // frame0 is the reference and lives apart from the targets; the target names check
  // natural order (frame9 before frame10).
  await writeSequence(['frame0', ...TARGETS], path.join(work, 'all'), path.join(work, 'gt'));
  mkdirSync(path.join(work, 'ref'));
  mkdirSync(path.join(work, 'targets'));
  refImage = path.join(work, 'ref', 'frame0.png');
  refMask = path.join(work, 'ref', 'frame0.mask.png');
  copyFileSync(path.join(work, 'all', 'frame0.png'), refImage);
  copyFileSync(path.join(work, 'gt', 'frame0.png'), refMask);
  for (const t of TARGETS)
    copyFileSync(path.join(work, 'all', `${t}.png`), path.join(work, 'targets', `${t}.png`));
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function base(out: string, extra: string[] = []): string[] {
  return segmentArgs(model, { image: refImage, mask: refMask }, out, extra);
}

describe('p2sam segment', () => {
  it('segments a directory as a naturally ordered sequence: one JSON line per target, masks, overlays, report', async () => {
    const out = path.join(work, 'out-json');
    const r = await runCli([...base(out, ['--json', '--parts', '1..3']), path.join(work, 'targets')]);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);

    // stdout holds exactly one JSON object per line, one per target, in natural order.
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(TARGETS.length);
    const records = lines.map((l) => JSON.parse(l));
    expect(records.map((x) => x.name)).toEqual(TARGETS);
    // Progress went to stderr, line-based (not a TTY here), without control characters.
    expect(r.stderr).toContain(`[4/4] frame10.png`);
    expect(r.stderr).not.toContain('\x1b[');
    expect(r.stderr).not.toContain('\r');

    for (const [i, rec] of records.entries()) {
      expect(rec.status).toBe('ok');
      expect(rec.index).toBe(i);
      expect(rec.parts).toBeGreaterThanOrEqual(1);
      expect(rec.parts).toBeLessThanOrEqual(3);
      expect(rec.negatives).toBe(1);
      expect(rec.points.filter((p: { label: number }) => p.label === 1)).toHaveLength(rec.parts);
      expect(rec.candidates).toHaveLength(3);
      for (const c of rec.candidates) expect(c).not.toHaveProperty('mask');

      const maskFile = path.join(out, `${rec.name}.mask.png`);
      expect(rec.outputs.mask).toBe(maskFile);
      const meta = await sharp(maskFile).metadata();
      expect([meta.width, meta.height, meta.channels]).toEqual([320, 240, 1]);
      const { data } = await sharp(maskFile).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
      expect(data.length).toBe(320 * 240);
      const values = new Set(data);
      expect([...values].every((v) => v === 0 || v === 255)).toBe(true);
      // The testkit object is easy: the mask must actually be the object.
      const pred = await readMask(maskFile);
      const gt = await readMask(path.join(work, 'gt', `${rec.name}.png`));
      expect(dice(pred, gt)).toBeGreaterThan(0.85);
      expect(rec.area).toBe(pred.data.reduce((a, v) => a + v, 0));

      const ov = await sharp(path.join(out, `${rec.name}.overlay.png`)).metadata();
      expect([ov.width, ov.height, ov.channels]).toEqual([320, 240, 3]);
    }

    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    expect(report.status).toBe('ok');
    expect(report.interrupted).toBe(false);
    expect(report.exitCode).toBe(0);
    expect(report.model.encoder.kind).toBe('sam-encoder-image');
    expect(report.model.decoder.kind).toBe('sam-decoder');
    expect(report.model.encoder.file).toBe(model.encoder);
    expect(report.options).toMatchObject({
      mode: 'natural',
      parts: { min: 1, max: 3 },
      negatives: { min: 1, max: 1 },
      solver: 'exact',
    });
    expect(report.reference).toMatchObject({ width: 320, height: 240, parts: [1, 2, 3] });
    expect(report.targets).toEqual(records);
    expect(report.totals).toMatchObject({ targets: 4, processed: 4, ok: 4, empty: 0, failed: 0, notRun: 0 });
    expect(report.totals.meanTargetMs).toBeGreaterThan(0);
  });

  it('prints human lines without --json, takes globs, and honours --no-overlay', async () => {
    const out = path.join(work, 'out-human');
    const r = await runCli([
      ...base(out, ['--parts', '1..2', '--restarts', '2', '--no-overlay', '--quiet']),
      path.join(work, 'targets', 'frame1*.png'),
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trimEnd().split('\n');
    // frame1 and frame10, naturally ordered, then the summary.
    expect(lines[0]).toMatch(
      /frame1\.png: \d parts?, 1 negative, score [\d.]+, [\d.]+% of the image -> .*frame1\.mask\.png$/,
    );
    expect(lines[1]).toMatch(/frame10\.png: /);
    expect(lines[2]).toMatch(/^p2sam: 2 targets of 2 segmented \(0 empty, 0 failed\)/);
    expect(readdirSync(out).sort()).toEqual(['frame1.mask.png', 'frame10.mask.png', 'report.json']);
  });

  it('gives targets that share a base name distinct, deterministic output names', async () => {
    const a = path.join(work, 'dup', 'a');
    const b = path.join(work, 'dup', 'b');
    mkdirSync(a, { recursive: true });
    mkdirSync(b, { recursive: true });
    copyFileSync(path.join(work, 'targets', 'frame1.png'), path.join(a, 'x.png'));
    copyFileSync(path.join(work, 'targets', 'frame2.png'), path.join(b, 'x.png'));
    const out = path.join(work, 'out-dup');
    const r = await runCli([
      ...base(out, ['--parts', '1', '--restarts', '1', '--json', '-q']),
      path.join(a, 'x.png'),
      path.join(b, 'x.png'),
    ]);
    expect(r.code).toBe(0);
    expect(
      r.stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l).name),
    ).toEqual(['a__x', 'b__x']);
    expect(existsSync(path.join(out, 'a__x.mask.png'))).toBe(true);
    expect(existsSync(path.join(out, 'b__x.overlay.png'))).toBe(true);
  });

  it.each([
    [['--parts', '1..x'], /--parts.*'1\.\.x'.*invalid/],
    [['--parts', '0'], /--parts must be an integer in 1\.\.16; received 0/],
    [['--parts', '5..2'], /--parts.*min ≤ max/],
    [['--negatives', '0..1'], /--negatives must be a single value in natural mode/],
    [['--mode', 'surgical'], /--mode.*'surgical'.*natural, medical/],
    [['--solver', 'greedy'], /--solver.*'greedy'/],
    [['--threads', '0'], /--threads.*'0'.*1\.\.1024/],
    [['--window', '10'], /--window.*lo,hi/],
    [['--epsilon', '0'], /--epsilon.*'0'.*\(0, 10\]/],
    [
      ['--gpu-stages', 'points,decoder'],
      /--gpu-stages\[1\] must be 'points' \| 'kmeans' \| 'scoring'; received "decoder"/,
    ],
    [['--model-device', 'tpu'], /--model-device.*'tpu'/],
  ])('exits 2 on %j naming the argument', async (extra, message) => {
    const r = await runCli([...base(path.join(work, 'out-bad'), extra), path.join(work, 'targets')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });

  it('exits 2 for a missing required option, a missing file and a missing target', async () => {
    const noEncoder = await runCli([
      'segment',
      '--decoder',
      model.decoder,
      '--ref-image',
      refImage,
      '--ref-mask',
      refMask,
      '--out',
      work,
      'x.png',
    ]);
    expect(noEncoder.code).toBe(2);
    expect(noEncoder.stderr).toMatch(/required option '--encoder <file>' not specified/);

    const missing = await runCli([
      ...base(path.join(work, 'o'), []).map((a) => (a === refMask ? path.join(work, 'nope.png') : a)),
      path.join(work, 'targets'),
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--ref-mask: no such file '.*nope\.png'/);

    const target = await runCli([...base(path.join(work, 'o')), path.join(work, 'no-such-dir')]);
    expect(target.code).toBe(2);
    expect(target.stderr).toMatch(/target ".*no-such-dir": no such file or directory/);
  });

  it('exits 2 with both sizes when the reference mask does not fit the reference image', async () => {
    const small = path.join(work, 'small-mask.png');
    const data = new Uint8Array(100 * 80);
    data.fill(1, 1000, 1500);
    await writeMaskPng(small, { data, width: 100, height: 80 });
    const out = path.join(work, 'out-size');
    const r = await runCli([
      ...base(out).map((a) => (a === refMask ? small : a)),
      path.join(work, 'targets'),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /--ref-mask '.*small-mask\.png' is 100×80 but --ref-image '.*frame0\.png' is 320×240/,
    );
    // The output folder was already set up, so the failure is on record there too.
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    expect(report.status).toBe('failed');
    expect(report.error.code).toBe('MASK_SIZE_MISMATCH');
  });

  it('refuses to overwrite an input and never writes outside --out', async () => {
    // The reference mask sits in the output folder under the name an output would take.
    const out = path.join(work, 'out-clobber');
    mkdirSync(out, { recursive: true });
    const clobbered = path.join(out, 'frame1.mask.png');
    copyFileSync(refMask, clobbered);
    const before = readFileSync(clobbered);
    const r = await runCli([
      ...base(out).map((a) => (a === refMask ? clobbered : a)),
      path.join(work, 'targets', 'frame1.png'),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/would overwrite the input/);
    expect(readFileSync(clobbered).equals(before)).toBe(true);
    expect(readdirSync(out)).toEqual(['frame1.mask.png']);
  });

  it('reads 16-bit greyscale images through --window', async () => {
    // 12-bit data in 16-bit PNGs, as CT exports store it: grey = luminance × 16.
    const scenes = await writeSequence(['w0', 'w1'], path.join(work, 'w-rgb'), path.join(work, 'w-gt'), {
      seed: 3,
    });
    const files: string[] = [];
    for (const [i, sc] of scenes.entries()) {
      const g = new Uint16Array(sc.image.width * sc.image.height);
      for (let p = 0; p < g.length; p++) {
        const [r, gg, b] = [sc.image.data[p * 3]!, sc.image.data[p * 3 + 1]!, sc.image.data[p * 3 + 2]!];
        g[p] = Math.round((0.299 * r + 0.587 * gg + 0.114 * b) * 16);
      }
      const f = path.join(work, `w${i}-16bit.png`);
      await sharp(g, { raw: { width: sc.image.width, height: sc.image.height, channels: 1 } })
        .toColourspace('grey16')
        .png()
        .toFile(f);
      files.push(f);
    }
    const out = path.join(work, 'out-16bit');
    const r = await runCli([
      ...base(out, ['--window', '0,4095', '--parts', '1..2', '--restarts', '2', '--json', '-q']).map((a) =>
        a === refImage ? files[0]! : a === refMask ? path.join(work, 'w-gt', 'w0.png') : a,
      ),
      files[1]!,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const rec = JSON.parse(r.stdout);
    expect(rec).toMatchObject({ name: 'w1-16bit', width: 320, height: 240, status: 'ok' });
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    expect(report.options.window).toEqual([0, 4095]);
    // The testkit encoder sees colour, which grey data lacks, so only sanity is checked.
    expect(rec.area).toBeGreaterThan(0);
    expect(rec.area).toBeLessThan(320 * 240);
  });

  it('keeps going past a broken target, records it, and exits 1', async () => {
    const broken = path.join(work, 'broken.png');
    writeFileSync(broken, 'this is not a PNG\n');
    const out = path.join(work, 'out-broken');
    const r = await runCli([
      ...base(out, ['--json', '-q', '--parts', '1', '--restarts', '1']),
      path.join(work, 'targets', 'frame1.png'),
      broken,
      path.join(work, 'targets', 'frame2.png'),
    ]);
    expect(r.code).toBe(1);
    const recs = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(recs.map((x) => x.status)).toEqual(['ok', 'error', 'ok']);
    expect(recs[1].error.code).toBe('IMAGE_READ_FAILED');
    expect(recs[1].error.message).toContain('broken.png');
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    expect(report.status).toBe('failed');
    expect(report.totals).toMatchObject({ processed: 3, ok: 2, failed: 1 });
  });

  it('exits 1 with the reason when a model file is not a model', async () => {
    const bad = path.join(work, 'bad.onnx');
    writeFileSync(bad, 'not a model');
    const r = await runCli([
      ...base(path.join(work, 'out-badmodel')).map((a) => (a === model.decoder ? bad : a)),
      path.join(work, 'targets'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not a valid ONNX model.*\[MODEL_INVALID\]/);
  });

  it('stops cleanly on SIGINT: keeps finished targets, writes an interrupted report, exits 130', async () => {
    const names = Array.from({ length: 16 }, (_, i) => `s${i}`);
    const dir = path.join(work, 'long');
    await writeSequence(names, dir, path.join(work, 'long-gt'), { seed: 5 });
    const out = path.join(work, 'out-sigint');
    const child = spawn(process.execPath, [CLI, ...base(out, ['--json', '--parts', '1..3']), dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => {
      let sent = false;
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
        if (!sent && stdout.includes('\n')) {
          sent = true;
          child.kill('SIGINT');
        }
      });
      child.on('close', (c) => resolve(c));
    });
    expect(code).toBe(130);
    expect(stderr).toMatch(/interrupted/);
    const lines = stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines.length).toBeLessThan(names.length);
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    expect(report.interrupted).toBe(true);
    expect(report.status).toBe('interrupted');
    expect(report.exitCode).toBe(130);
    expect(report.targets).toEqual(lines);
    expect(report.totals.processed).toBe(lines.length);
    expect(report.totals.notRun).toBe(names.length - lines.length);
    // Finished targets keep their files; the abandoned one left nothing behind.
    const masks = readdirSync(out).filter((f) => f.endsWith('.mask.png'));
    expect(masks.sort()).toEqual(lines.map((l) => `${l.name}.mask.png`).sort());
  });

  it.skipIf(spawnSync('script', ['--version']).status !== 0)(
    'draws a bar with rate and ETA when stderr is a terminal',
    async () => {
      const out = path.join(work, 'out-tty');
      const cmd = [
        process.execPath,
        CLI,
        ...base(out, ['--parts', '1', '--restarts', '1']),
        path.join(work, 'targets'),
      ]
        .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
        .join(' ');
      // util-linux `script` runs the command on a pseudo-terminal, so isTTY is true inside.
      const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 50_000 });
      expect(r.status).toBe(0);
      expect(r.stdout).toContain('\r\x1b[2K[');
      expect(r.stdout).toMatch(/\d+\/4 +\d+%/);
      expect(r.stdout).toMatch(/targets\/s/);
      expect(r.stdout).toMatch(/ETA \d+:\d\d/);
      expect(r.stdout).toMatch(/frame10\.png: /);
    },
  );
});
