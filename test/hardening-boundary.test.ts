/**
 * Issue 15 — the native boundary itself, called directly (bypassing lib/), as a hostile
 * or careless caller would:
 * - a C++ exception in the synchronous glue (std::bad_alloc copying a large input) must
 *   become a JS exception, not std::terminate;
 * - methods called with a receiver of the wrong class must throw a TypeError, not read
 *   one C++ object as another (Node-API type tags);
 * - typed arrays of the wrong element type must be refused, not read as float over
 *   their end;
 * - an option that is present but of the wrong type must be refused, not replaced by
 *   the default;
 * - V8 must be told about native memory held by small JS handles (embeddings), so the
 *   GC sees the pressure.
 *
 * Scenarios that could crash run in child processes.
 */
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { P2SAM } from '../lib';
import { native } from '../lib/native';
import { makeScene } from '../lib/testkit/scenes';
import { ROOT, describeExit, runScript } from './hardening-helpers';
import { testkitModel } from './helpers';

const NATIVE_JS = path.join(ROOT, 'dist', 'lib', 'native.js');

// Under scripts/asan-addon-tests.sh the ASan allocator reports an allocation beyond the
// address-space limit as a fatal out-of-memory instead of throwing std::bad_alloc.
const UNDER_ASAN = (process.env.LD_PRELOAD ?? '').includes('libasan');

describe('C++ exceptions in synchronous glue', () => {
  it.skipIf(UNDER_ASAN)(
    'std::bad_alloc while copying a large input throws into JS instead of aborting',
    async () => {
      // The child allocates a 1 GiB Float32Array (untouched pages: no real memory), then
      // caps its address space 512 MiB above what it uses — room for V8 to work, none for
      // the addon's copy of that array.
      const r = await runScript(
        String.raw`
      const { spawnSync } = require('node:child_process');
      const input = JSON.parse(process.argv[2]);
      const addon = require(input.nativeJs).native();
      const n = 4 * 1024 * 1024, d = 64;
      const f = new Float32Array(n * d);
      const vm = Number(/VmSize:\s+(\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
      const limit = vm + 512 * 1024 * 1024;
      const pl = spawnSync('prlimit', ['--pid', String(process.pid), '--as=' + limit + ':' + limit]);
      if (pl.status !== 0) { console.log('SKIP prlimit failed'); process.exit(0); }
      try {
        const p = addon.kmeans(f, n, d, Int32Array.from([2]), { restarts: 1, maxIterations: 1, tolerance: 0, seed: 0, threads: 1 });
        p.then(() => console.log('resolved'), (e) => console.log('rejected', e && e.message)).finally(() => console.log('SURVIVED'));
      } catch (e) {
        console.log('threw', e instanceof Error, e && e.message);
        console.log('SURVIVED');
      }
      `,
        { nativeJs: NATIVE_JS },
        { timeoutMs: 60_000 },
      );
      expect(r.signal, describeExit(r)).toBeNull();
      expect(r.code, describeExit(r)).toBe(0);
      expect(r.stdout).toContain('SURVIVED');
      // The copy really failed (and was reported), rather than the limit not applying.
      if (!r.stdout.includes('SKIP')) expect(r.stdout).toMatch(/threw true .*bad_alloc|rejected/);
    },
    90_000,
  );
});

describe('receivers and element types', () => {
  it('a method called on an object of another wrapped class throws a TypeError', async () => {
    const m = await testkitModel();
    const r = await runScript(
      String.raw`
      const input = JSON.parse(process.argv[2]);
      const addon = require(input.nativeJs).native();
      (async () => {
        const model = await addon.loadModels({ encoder: { path: input.encoder }, decoder: { path: input.decoder }, threads: 1, graphOptimization: 99, memoryPattern: false, cpuArena: true, device: 'cpu' });
        const { embedding } = await model.encode(new Uint8Array(64 * 64 * 3), 64, 64, 3, 'sam', 1);
        const other = await addon.loadModels({ encoder: { path: input.encoder }, decoder: { path: input.decoder }, threads: 1, graphOptimization: 99, memoryPattern: false, cpuArena: true, device: 'cpu' });
        const results = [];
        const tries = {
          'model.info on an embedding': () => Object.getPrototypeOf(model).info.call(embedding),
          'model.release on an embedding': () => Object.getPrototypeOf(model).release.call(embedding),
          'embedding.data on a model': () => Object.getPrototypeOf(embedding).data.call(model),
          'embedding.meta on a plain object': () => Object.getPrototypeOf(embedding).meta.call({}),
          'model.encode on a plain object': () => Object.getPrototypeOf(model).encode.call({}, new Uint8Array(12), 2, 2, 3, 'sam', 1),
          // An argument that passes an instanceof check without being the wrapped class:
          // an unwrapped object on the prototype chain, and a model dressed as an embedding.
          'decode(fake embedding)': () => model.decode(Object.create(addon.NativeEmbedding.prototype), new Float32Array(2), new Float32Array(1), null, false),
          'decode(model as embedding)': () => model.decode(Object.setPrototypeOf(other, addon.NativeEmbedding.prototype), new Float32Array(2), new Float32Array(1), null, false),
          'referenceFeatures(fake embedding)': () => addon.referenceFeatures(Object.create(addon.NativeEmbedding.prototype), new Uint8Array(4), 2, 2, 1),
        };
        for (const [name, fn] of Object.entries(tries)) {
          try {
            const v = fn();
            if (v && typeof v.then === 'function') await v;
            results.push(name + ': returned');
          } catch (e) {
            results.push(name + ': ' + (e instanceof TypeError ? 'TypeError' : 'other ' + (e && e.message)));
          }
        }
        // The real objects still work afterwards.
        console.log(JSON.stringify(results));
        console.log('meta', JSON.stringify(embedding.meta()));
        console.log('SURVIVED');
      })().catch((e) => { console.error(e); process.exit(3); });
      `,
      { nativeJs: NATIVE_JS, ...m },
      { timeoutMs: 60_000 },
    );
    expect(r.signal, describeExit(r)).toBeNull();
    expect(r.code, describeExit(r)).toBe(0);
    const results = JSON.parse(r.stdout.split('\n')[0]!) as string[];
    for (const line of results) expect(line).toMatch(/: TypeError$/);
    expect(r.stdout).toContain('"origWidth":64');
  }, 90_000);

  it('a Uint8Array where floats are expected is refused, not read over its end', async () => {
    const addon = native();
    const n = 64;
    const d = 4;
    // n×d elements but only n×d bytes: read as floats, the copy would run 3·n·d bytes past its end.
    const bytes = new Uint8Array(n * d).fill(1);
    const run = async () =>
      addon.kmeans(bytes as unknown as Float32Array, n, d, Int32Array.from([2]), {
        restarts: 1,
        maxIterations: 5,
        tolerance: 0,
        seed: 1,
        threads: 1,
      });
    await expect(run()).rejects.toThrow(TypeError);
    const wrongKs = async () =>
      addon.kmeans(new Float32Array(n * d), n, d, new Uint8Array([2]) as unknown as Int32Array, {
        restarts: 1,
        maxIterations: 5,
        tolerance: 0,
        seed: 1,
        threads: 1,
      });
    await expect(wrongKs()).rejects.toThrow(TypeError);
  });

  it('an option of the wrong type is refused instead of silently defaulted', async () => {
    const addon = native();
    const f = new Float32Array(64 * 4).map((_, i) => Math.sin(i));
    const base = { restarts: 1, maxIterations: 5, tolerance: 0, seed: 1, threads: 1 };
    for (const [key, bad] of [
      ['restarts', '3'],
      ['seed', {}],
      ['threads', true],
    ] as const) {
      const run = async () => addon.kmeans(f, 64, 4, Int32Array.from([2]), { ...base, [key]: bad } as never);
      await expect(run(), key).rejects.toThrow(TypeError);
    }
    const runW = async () =>
      addon.wasserstein(f, 64, f, 64, 4, null, null, {
        solver: 'sinkhorn',
        epsilon: '0.1',
        maxIterations: 10,
        tolerance: 0,
        threads: 1,
      } as never);
    await expect(runW()).rejects.toThrow(TypeError);
  });
});

describe('native memory is reported to V8', () => {
  let model: P2SAM;
  beforeAll(async () => {
    model = await P2SAM.load({ ...(await testkitModel()), threads: 1 });
  });

  it('an embedding reports its 4 MiB to V8 as external memory while alive', async () => {
    // The running total of napi_adjust_external_memory: Node 20's process.memoryUsage()
    // does not include it, so the addon exposes it.
    const reported = () => native().externalMemory();
    const scene = makeScene({ width: 160, height: 120, seed: 2 });
    const before = reported();
    const embeddings = [];
    for (let i = 0; i < 4; i++) embeddings.push(await model.encode(scene.image));
    const alive = reported();
    for (const e of embeddings) e.dispose();
    const after = reported();
    // 4 embeddings × 256×64×64 floats = 16 MiB held natively. (V8 adjusts the same total
    // for its own ArrayBuffers, so it moves by a little more or less than that.)
    expect(alive - before).toBeGreaterThanOrEqual(15 * 1024 * 1024);
    expect(alive - after).toBeGreaterThanOrEqual(15 * 1024 * 1024);
    await model.dispose();
  });
});
