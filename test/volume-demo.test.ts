/**
 * `p2sam demo --volume` end to end, as a user runs it: the two-visit DICOM phantom, the
 * volume command on it, and the 3-D Dice printed (exit 0 only at ≥ 0.85).
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, runCli, tempDir } from './cli-helpers';

beforeAll(() => ensureBuilt(), 120_000);

describe('p2sam demo --volume', () => {
  it('runs the volume pipeline offline and reports a 3-D Dice ≥ 0.85 with no false-positive slice', async () => {
    const out = path.join(tempDir('volume-demo'), 'demo');
    const r = await runCli(['demo', '--volume', '--out', out, '--json', '--quiet'], { timeoutMs: 300_000 });
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number | string | boolean>;
    expect(res.passed).toBe(true);
    expect(res.dice as number).toBeGreaterThanOrEqual(0.85);
    expect(res.falsePositiveSlices).toBe(0);
    expect(Math.abs((res.zOffsetMm as number) - (res.trueZOffsetMm as number))).toBeLessThanOrEqual(2.5);
    expect(existsSync(res.rtstruct as string)).toBe(true);
    expect(existsSync(res.review as string)).toBe(true);
  }, 320_000);
});
