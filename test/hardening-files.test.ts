/**
 * Issue 15 — p2sam reads only the files it was given and writes only where it was told:
 * - a model passed as a Buffer whose weights live in external data resolved them
 *   against the current working directory (and the bytes came back out through
 *   encode()): it is refused unless the caller names `externalDataFolder`;
 * - a decoder loaded by path with external data was pruned and handed to ONNX Runtime
 *   as bytes, so its weights were looked up in the working directory (a different
 *   same-named file there silently changed the results): it keeps its own folder;
 * - outputs are created without following symbolic links already in the output folder
 *   or made during the run (`testkit-model --out`, `demo --out`, `segment`).
 */
import { spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeTestkitGraph, writeTestkitModel } from '../lib/testkit';
import { buildTestkitDecoderGraph } from '../lib/testkit/decoder';
import { CLI, ensureBuilt, runCli, segmentArgs, tempDir, writeSequence } from './cli-helpers';
import { DIST, describeExit, runScript } from './hardening-helpers';

let work: string;
let ext: { encoder: string; decoder: string };

beforeAll(async () => {
  ensureBuilt();
  work = tempDir('hardening-files');
  ext = await writeTestkitModel(path.join(work, 'ext-model'), { externalData: true });
});

const LOAD_FROM_BUFFER = String.raw`
const input = JSON.parse(process.argv[2]);
const p2sam = require(input.dist);
(async () => {
  const fs = require('fs');
  const bytes = fs.readFileSync(input.encoder);
  const out = {};
  try {
    const m = await p2sam.P2SAM.load({ encoder: bytes, decoder: input.decoder, threads: 1 });
    out.plain = 'loaded';
    await m.dispose();
  } catch (e) {
    out.plain = { code: e.code, message: e.message };
  }
  try {
    const m = await p2sam.P2SAM.load({ encoder: bytes, decoder: input.decoder, threads: 1, externalDataFolder: input.folder });
    const scene = p2sam.testkit.makeScene({ width: 64, height: 48, seed: 1 });
    const e = await m.encode(scene.image);
    const byPath = await p2sam.P2SAM.load({ encoder: input.encoder, decoder: input.decoder, threads: 1 });
    const e2 = await byPath.encode(scene.image);
    out.withFolder = Buffer.from(e.toFloat32Array().buffer).equals(Buffer.from(e2.toFloat32Array().buffer)) ? 'same' : 'different';
  } catch (e) {
    out.withFolder = { code: e.code, message: e.message };
  }
  console.log(JSON.stringify(out));
})();
`;

describe('external data', () => {
  it('an in-memory model with external data is refused unless externalDataFolder is given', async () => {
    // The working directory holds the model's data file: the old code found it there.
    const r = await runScript(
      LOAD_FROM_BUFFER,
      { dist: DIST, ...ext, folder: path.dirname(ext.encoder) },
      { cwd: path.dirname(ext.encoder) },
    );
    expect(r.code, describeExit(r)).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.plain.code).toBe('MODEL_UNSUPPORTED');
    expect(out.plain.message).toMatch(/externalDataFolder/);
    expect(out.withFolder).toBe('same');
  }, 60_000);

  it('a decoder with external data, loaded by path, reads its weights from its own folder, not the working directory', async () => {
    const dir = path.join(work, 'ext-decoder');
    mkdirSync(dir, { recursive: true });
    const enc = encodeTestkitGraph(buildTestkitDecoderGraph(), 'decoder', {
      location: 'decoder.onnx.data',
      minBytes: 64,
    });
    expect(enc.externalData).not.toBeNull();
    writeFileSync(path.join(dir, 'decoder.onnx'), enc.model);
    writeFileSync(path.join(dir, 'decoder.onnx.data'), enc.externalData!);
    // A same-named, same-sized data file with other weights in the working directory.
    const decoy = path.join(work, 'decoy-cwd');
    mkdirSync(decoy, { recursive: true });
    const other = Buffer.from(enc.externalData!);
    for (let i = 0; i + 4 <= other.length; i += 4) other.writeFloatLE(other.readFloatLE(i) * -3 + 0.25, i);
    writeFileSync(path.join(decoy, 'decoder.onnx.data'), other);
    const script = String.raw`
      const input = JSON.parse(process.argv[2]);
      const p2sam = require(input.dist);
      (async () => {
        const { makeScene } = p2sam.testkit;
        const ref = makeScene({ width: 160, height: 120, seed: 4, scale: 0.55 });
        const target = makeScene({ width: 160, height: 120, seed: 4, noiseSeed: 2, scale: 0.55 });
        const m = await p2sam.P2SAM.load({ encoder: input.encoder, decoder: input.decoder, threads: 1 });
        const reference = await m.createReference({ image: ref.image, mask: ref.mask }, { parts: { min: 1, max: 2 } });
        const r = await m.segment(target.image, { reference });
        console.log(JSON.stringify({ cascade: m.info.decoder.cascade, note: m.info.decoder.cascadeNote, mask: Buffer.from(r.mask).toString('base64'), scores: r.candidates.map((c) => c.score) }));
      })().catch((e) => { console.log(JSON.stringify({ error: e.code + ' ' + e.message })); });
    `;
    const input = { dist: DIST, encoder: ext.encoder, decoder: path.join(dir, 'decoder.onnx') };
    const home = await runScript(script, input, { cwd: dir });
    const away = await runScript(script, input, { cwd: decoy });
    const a = JSON.parse(home.stdout.trim().split('\n').pop()!);
    const b = JSON.parse(away.stdout.trim().split('\n').pop()!);
    expect(a.error, describeExit(home)).toBeUndefined();
    expect(b.error, describeExit(away)).toBeUndefined();
    expect(b.cascade).toBe('pruned');
    expect(b.mask).toBe(a.mask);
    expect(b.scores).toEqual(a.scores);
  }, 90_000);
});

describe('outputs are created without following symbolic links', () => {
  function victim(name: string): string {
    const file = path.join(work, `victim-${name}.txt`);
    writeFileSync(file, 'precious\n');
    return file;
  }

  it('testkit-model --out: a link already there is replaced, its target untouched', async () => {
    const out = path.join(work, 'tk-out');
    mkdirSync(out, { recursive: true });
    const v = victim('tk');
    symlinkSync(v, path.join(out, 'testkit-encoder.onnx'));
    const r = await runCli(['testkit-model', '--out', out, '--json']);
    expect(readFileSync(v, 'utf8')).toBe('precious\n');
    if (r.code === 0) expect(lstatSync(path.join(out, 'testkit-encoder.onnx')).isSymbolicLink()).toBe(false);
    else expect(r.stderr).toMatch(/link/i);
  });

  it('demo --out: a link among its outputs is not written through', async () => {
    const out = path.join(work, 'demo-out');
    mkdirSync(path.join(out, 'frames'), { recursive: true });
    const v = victim('demo');
    symlinkSync(v, path.join(out, 'frames', 'frame3.png'));
    await runCli(['demo', '--out', out], { timeoutMs: 120_000 });
    expect(readFileSync(v, 'utf8')).toBe('precious\n');
  }, 150_000);

  it('segment: a link made in --out while the run is going is not followed', async () => {
    const frames = path.join(work, 'seg-frames');
    const gt = path.join(work, 'seg-gt');
    const names = Array.from({ length: 8 }, (_, i) => `f${i}`);
    await writeSequence(['ref', ...names], frames, gt, { seed: 6 });
    const refDir = path.join(work, 'seg-ref');
    mkdirSync(refDir, { recursive: true });
    copyFileSync(path.join(frames, 'ref.png'), path.join(refDir, 'ref.png'));
    copyFileSync(path.join(gt, 'ref.png'), path.join(refDir, 'ref.mask.png'));
    const targets = path.join(work, 'seg-targets');
    mkdirSync(targets, { recursive: true });
    for (const n of names) copyFileSync(path.join(frames, `${n}.png`), path.join(targets, `${n}.png`));
    const model = await writeTestkitModel(path.join(work, 'seg-model'));
    const out = path.join(work, 'seg-out');
    const v = victim('seg');
    const args = [
      CLI,
      ...segmentArgs(
        model,
        { image: path.join(refDir, 'ref.png'), mask: path.join(refDir, 'ref.mask.png') },
        out,
        ['--parts', '1..2', '--json', targets],
      ),
    ];
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let planted = false;
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
        // After the up-front checks and the first target: plant links for the last ones.
        if (!planted && stdout.includes('\n')) {
          planted = true;
          for (const n of names.slice(-3)) {
            const p = path.join(out, `${n}.mask.png`);
            if (!existsSync(p)) symlinkSync(v, p);
          }
        }
      });
      child.on('close', (c) => resolve(c));
    });
    expect(code).not.toBeNull();
    expect(readFileSync(v, 'utf8')).toBe('precious\n');
  }, 120_000);
});
