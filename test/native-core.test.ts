/**
 * Runs the pure C++ core's own test executable (native/core/tests, built by
 * `npm run build:native` with P2SAM_BUILD_TESTS=ON, the default) as part of `npm test`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const exe = path.resolve(__dirname, '../build/Release/p2sam_core_tests');

describe('native core (C++ tests)', () => {
  it.skipIf(!existsSync(exe))('all C++ core tests pass', () => {
    const r = spawnSync(exe, [], { encoding: 'utf8', timeout: 300_000 });
    const summary = r.stdout.trim().split('\n').pop() ?? '';
    if (r.status !== 0)
      console.error(
        r.stdout
          .split('\n')
          .filter((l) => !l.startsWith('ok'))
          .join('\n'),
        r.stderr,
      );
    expect(summary).toMatch(/^\d+ passed, 0 failed$/);
    expect(Number(summary.split(' ')[0])).toBeGreaterThan(10);
    expect(r.status).toBe(0);
  });

  it('the test executable was built (P2SAM_BUILD_TESTS=ON)', () => {
    if (!existsSync(exe))
      console.warn(`native core tests not built: ${exe} is missing; run npm run build:native`);
    expect(existsSync(exe) || process.env.P2SAM_BUILD_TESTS === 'OFF').toBe(true);
  });
});
