/**
 * `p2sam testkit-model` and `p2sam inspect`: the model pair written, and the kind, role,
 * input form and opset reported for real and broken model files.
 */
import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testkitFixtureBytes, TESTKIT_OPSET, TESTKIT_IR_VERSION } from '../lib/testkit';
import { ensureBuilt, runCli, tempDir } from './cli-helpers';

let work: string;

beforeAll(() => {
  ensureBuilt();
  work = tempDir('inspect');
  for (const name of ['single-mask-decoder', 'sam2-encoder', 'preprocessed-encoder', 'not-onnx'] as const)
    writeFileSync(path.join(work, `${name}.onnx`), testkitFixtureBytes(name));
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('p2sam testkit-model', () => {
  it('writes the encoder/decoder pair, with external data on request', async () => {
    const plain = await runCli(['testkit-model', '--out', path.join(work, 'm')]);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^encoder: .*testkit-encoder\.onnx\ndecoder: .*testkit-decoder\.onnx\n$/);
    const ext = await runCli(['testkit-model', '--out', path.join(work, 'mx'), '--external-data', '--json']);
    expect(ext.code).toBe(0);
    const paths = JSON.parse(ext.stdout);
    expect(existsSync(paths.encoderData)).toBe(true);
    expect(statSync(paths.encoder).size).toBeLessThan(statSync(paths.encoderData).size);
  });

  it('exits 2 for a bad --decoder variant', async () => {
    const r = await runCli(['testkit-model', '--out', path.join(work, 'm2'), '--decoder', 'huge']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--decoder.*'huge'.*basic, sam-sized/);
  });
});

describe('p2sam inspect', () => {
  it('reports kind, role, input form, mask outputs, opset and size per model (--json)', async () => {
    await runCli(['testkit-model', '--out', path.join(work, 'm3')]);
    const enc = path.join(work, 'm3', 'testkit-encoder.onnx');
    const dec = path.join(work, 'm3', 'testkit-decoder.onnx');
    const single = path.join(work, 'single-mask-decoder.onnx');
    const sam2 = path.join(work, 'sam2-encoder.onnx');
    const pre = path.join(work, 'preprocessed-encoder.onnx');
    const r = await runCli(['inspect', '--json', enc, dec, single, sam2, pre]);
    expect(r.code).toBe(0);
    const [e, d, s, s2, p] = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(e).toMatchObject({
      kind: 'sam-encoder-image',
      role: 'encoder',
      usable: true,
      bytes: statSync(enc).size,
      irVersion: TESTKIT_IR_VERSION,
    });
    expect(e.opsets).toEqual([{ domain: '', version: TESTKIT_OPSET }]);
    expect(e.inputForm).toMatch(/RGB 0-255 resized to long side 1024/);
    expect(d).toMatchObject({ kind: 'sam-decoder', role: 'decoder', usable: true, maskOutputs: 4 });
    expect(s).toMatchObject({ kind: 'sam-decoder', usable: true, maskOutputs: 1 });
    expect(s.reason).toMatch(/single-mask/);
    expect(s2).toMatchObject({ kind: 'sam2-encoder', role: 'encoder', usable: false });
    expect(s2.reason).toMatch(/SAM 2/);
    expect(p).toMatchObject({ kind: 'sam-encoder-preprocessed', usable: true });
    expect(p.inputForm).toMatch(/1,3,1024,1024/);
  });

  it('prints a table with the reasons below it', async () => {
    const enc = path.join(work, 'm3', 'testkit-encoder.onnx');
    const sam2 = path.join(work, 'sam2-encoder.onnx');
    const r = await runCli(['inspect', enc, sam2]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^file\s+kind\s+role\s+input\s+masks\s+opset\s+size\s+usable$/m);
    expect(r.stdout).toMatch(
      /testkit-encoder\.onnx\s+sam-encoder-image\s+encoder\s+H×W×3 RGB\s+-\s+ai\.onnx 17\s+[\d.]+ KiB\s+yes/,
    );
    expect(r.stdout).toMatch(
      /sam2-encoder\.onnx: not usable: SAM 2 exports are recognised but not supported yet/,
    );
  });

  it('exits 1 for a file that is not a model, still reporting the others', async () => {
    const enc = path.join(work, 'm3', 'testkit-encoder.onnx');
    const r = await runCli(['inspect', '--json', enc, path.join(work, 'not-onnx.onnx')]);
    expect(r.code).toBe(1);
    const [ok, bad] = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(ok.usable).toBe(true);
    expect(bad).toMatchObject({ kind: 'invalid', usable: false });
    expect(bad.reason).toMatch(/not a valid ONNX model/);
  });

  it('exits 2 for a path that does not exist', async () => {
    const r = await runCli(['inspect', path.join(work, 'missing.onnx')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/MODEL: no such file '.*missing\.onnx'/);
  });
});
