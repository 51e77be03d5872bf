/**
 * The package as a user consumes it: `require('p2sam-native')` and `import` both work
 * from the compiled dist/, and the README's runnable API example does what it says.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, ROOT } from './cli-helpers';

beforeAll(() => {
  ensureBuilt();
  if (!existsSync(path.join(ROOT, 'dist', 'index.mjs')))
    spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'write-esm-entry.mjs')], { cwd: ROOT });
}, 180_000);

function node(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the package entry points', () => {
  it('require() and import give the same API', () => {
    const cjs = node([
      '-e',
      "const m = require('p2sam-native'); console.log(typeof m.P2SAM.load, typeof m.core.wasserstein, typeof m.testkit.writeTestkitModel)",
    ]);
    expect(cjs.stderr).toBe('');
    expect(cjs.stdout.trim()).toBe('function function function');
    const esm = node([
      '--input-type=module',
      '-e',
      "import { P2SAM, P2SamError, core } from 'p2sam-native'; import def from 'p2sam-native'; console.log(typeof P2SAM.backends, new P2SamError('DISPOSED', 'x').code, typeof core.kmeans, def.P2SAM === P2SAM)",
    ]);
    expect(esm.stderr).toBe('');
    expect(esm.stdout.trim()).toBe('function DISPOSED function true');
  });

  it("the README's API example (examples/quickstart.mjs) segments every target with IoU ≥ 0.9", () => {
    const r = node([path.join(ROOT, 'examples', 'quickstart.mjs')]);
    expect(r.status).toBe(0);
    const ious = [...r.stdout.matchAll(/IoU (\d\.\d+)/g)].map((m) => Number(m[1]));
    expect(ious).toHaveLength(3);
    for (const v of ious) expect(v).toBeGreaterThanOrEqual(0.9);
    expect(r.stdout).toMatch(/chose [2-5] parts/);
  });
});
