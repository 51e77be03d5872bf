/**
 * `p2sam demo`: the self-contained run (testkit model, generated sequence, segment,
 * eval) passes its own bar.
 */
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, runCli, tempDir } from './cli-helpers';

let work: string;

beforeAll(() => {
  ensureBuilt();
  work = tempDir('demo');
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('p2sam demo', () => {
  it('runs offline end to end and reaches a mean Dice of at least 0.9', async () => {
    const out = path.join(work, 'demo');
    const r = await runCli(['demo', '--out', out, '--json']);
    expect(r.code).toBe(0);
    // --json: stdout is the one result object; the narrative went to stderr.
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    const res = JSON.parse(lines[0]!);
    expect(res).toMatchObject({ frames: 8, width: 480, height: 360, passed: true });
    expect(res.meanDice).toBeGreaterThanOrEqual(0.9);
    expect(res.perFrame).toHaveLength(7);
    for (const f of res.perFrame) expect(f.dice).toBeGreaterThan(0.8);
    expect(r.stderr).toMatch(/segmenting frames 1\.\.7 with frame0 as the reference/);

    expect(readdirSync(path.join(out, 'model')).sort()).toEqual([
      'testkit-decoder.onnx',
      'testkit-encoder.onnx',
    ]);
    expect(readdirSync(path.join(out, 'frames'))).toHaveLength(8);
    expect(readdirSync(path.join(out, 'gt'))).toHaveLength(8);
    for (let i = 1; i < 8; i++) {
      expect(existsSync(path.join(out, 'results', `frame${i}.mask.png`))).toBe(true);
      expect(existsSync(path.join(out, 'results', `frame${i}.overlay.png`))).toBe(true);
    }
    const report = JSON.parse(readFileSync(path.join(out, 'results', 'report.json'), 'utf8'));
    expect(report.status).toBe('ok');
    expect(report.totals.processed).toBe(7);
    // The reference frame is never predicted, so eval leaves it out rather than scoring it.
    expect(res.eval.unmatched.gt.map((f: string) => path.basename(f))).toEqual(['frame0.png']);
  });
});
