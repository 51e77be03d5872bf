/**
 * lib/onnx/lean-attention.ts: the chunked rewrite of SAM's global attention computes the
 * same encoder outputs (within 1e-5 relative) on a real-architecture SAM encoder exported
 * from segment_anything by torch.onnx, and leaves graphs it does not recognise untouched,
 * saying why.
 *
 * The SAM encoder is built here by python/p2sam_vit_encoder.py (ImageEncoderViT, width 64,
 * depth 2: one windowed and one global block with rel-pos over the full 64×64 grid). That
 * needs Debian's python3-torch and Meta's segment_anything (P2SAM_SEGMENT_ANYTHING, or
 * ../shared/vendor/segment-anything beside the checkout); without them those cases are
 * skipped and say so.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeModel, GraphBuilder } from '../lib/onnx/graph';
import { leanAttention } from '../lib/onnx/lean-attention';
import { P2SAM } from '../lib';
import { testkitDecoderBytes, testkitEncoderBytes } from '../lib/testkit';
import { mulberry32 } from '../lib/testkit/prng';
import { makeScene } from '../lib/testkit/scenes';
import { CLI, ensureBuilt } from './cli-helpers';

const ROOT = path.resolve(__dirname, '..');
const quiet = { logSeverityLevel: 3 as const, intraOpNumThreads: 1, graphOptimizationLevel: 'all' as const };

function segmentAnythingDir(): string | undefined {
  const candidates = [
    process.env.P2SAM_SEGMENT_ANYTHING,
    path.resolve(ROOT, '../shared/vendor/segment-anything'),
    path.resolve(ROOT, '../../shared/vendor/segment-anything'),
  ];
  return candidates.find((d) => d !== undefined && existsSync(path.join(d, 'segment_anything')));
}

/** Why the exported-SAM cases cannot run here, or undefined when they can. */
function torchUnavailable(): string | undefined {
  const sa = segmentAnythingDir();
  if (!sa) return 'segment_anything not found (set P2SAM_SEGMENT_ANYTHING)';
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import torch, segment_anything'], {
    env: { ...process.env, PYTHONPATH: sa },
    encoding: 'utf8',
  });
  return probe.status === 0
    ? undefined
    : `python3-torch / segment_anything not importable: ${(probe.stderr || probe.error?.message || '').trim().split('\n').pop()}`;
}

const skipReason = torchUnavailable();
if (skipReason) console.warn(`onnx-lean-attention: exported-SAM cases skipped: ${skipReason}`);

function image(seed: number): ort.Tensor {
  const rnd = mulberry32(seed);
  const x = new Float32Array(3 * 1024 * 1024);
  for (let i = 0; i < x.length; i++) x[i] = rnd() * 4 - 2;
  return new ort.Tensor('float32', x, [1, 3, 1024, 1024]);
}

/** max |a − b| / max |a| over the whole output. */
function relativeError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let ref = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    ref = Math.max(ref, Math.abs(a[i]!));
  }
  return diff / ref;
}

function countOps(model: Uint8Array, opType: string): number {
  // The op_type string of a NodeProto is field 4: tag 0x22, length, bytes.
  const needle = Buffer.concat([Buffer.from([0x22, opType.length]), Buffer.from(opType)]);
  let n = 0;
  for (let i = Buffer.from(model).indexOf(needle); i >= 0; i = Buffer.from(model).indexOf(needle, i + 1)) n++;
  return n;
}

describe.skipIf(skipReason !== undefined)(
  'leanAttention on a tiny SAM ViT encoder exported by torch.onnx',
  () => {
    let original: Uint8Array;
    let file: string;
    let reference: Float32Array;
    const input = image(11);

    beforeAll(async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'p2sam-lean-'));
      file = path.join(dir, 'tiny-sam-encoder.onnx');
      execFileSync('/usr/bin/python3', [path.join(ROOT, 'python/p2sam_vit_encoder.py'), 'tiny', file], {
        env: { ...process.env, PYTHONPATH: segmentAnythingDir() },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      original = new Uint8Array(readFileSync(file));
      const s = await ort.InferenceSession.create(original, quiet);
      reference = (await s.run({ image: input })).image_embeddings!.data as Float32Array;
    }, 240_000);

    it('finds the global block by structure and leaves the windowed one alone, with the reason', () => {
      const r = leanAttention(original, { chunks: 2 });
      expect(r.rewritten).toBe(1);
      expect(r.reason).toBeUndefined();
      expect(r.sites).toHaveLength(2);
      expect(r.sites.find((s) => !s.skipped)?.grid).toEqual([64, 64]);
      const windowed = r.sites.find((s) => s.skipped);
      expect(windowed?.grid).toEqual([14, 14]);
      expect(windowed?.skipped).toMatch(/14×14 tokens.*minTokens/);
      // One softmax per chunk replaces the global one; the windowed block keeps its own.
      expect(countOps(original, 'Softmax')).toBe(2);
      expect(countOps(r.model, 'Softmax')).toBe(1 + 2);
    });

    for (const chunks of [2, 3]) {
      it(`${chunks} chunks (the encoder has 2 heads${chunks === 3 ? ': one chunk is empty' : ''}): image_embeddings equal the original's within 1e-5 relative`, async () => {
        const r = leanAttention(original, { chunks });
        expect(r.rewritten).toBe(1);
        const s = await ort.InferenceSession.create(r.model, quiet);
        const lean = (await s.run({ image: input })).image_embeddings!;
        expect(lean.dims).toEqual([1, 256, 64, 64]);
        expect(relativeError(reference, lean.data as Float32Array)).toBeLessThan(1e-5);
      });
    }

    it('also after constant folding (ONNX Runtime basic optimisation: rel-pos lookups folded into constant tables)', async () => {
      const folded = path.join(path.dirname(file), 'folded.onnx');
      await ort.InferenceSession.create(original, {
        ...quiet,
        graphOptimizationLevel: 'basic',
        optimizedModelFilePath: folded,
      });
      const bytes = new Uint8Array(readFileSync(folded));
      const r = leanAttention(bytes, { chunks: 2 });
      expect(r.rewritten).toBe(1);
      expect(r.sites.map((s) => s.grid)).toEqual([
        [14, 14],
        [64, 64],
      ]);
      const a = (await (await ort.InferenceSession.create(bytes, quiet)).run({ image: input }))
        .image_embeddings!;
      const b = (await (await ort.InferenceSession.create(r.model, quiet)).run({ image: input }))
        .image_embeddings!;
      expect(relativeError(a.data as Float32Array, b.data as Float32Array)).toBeLessThan(1e-5);
    });

    it('the export-time form (python/p2sam_lean_attention.py, query rows in chunks) gives the same embeddings', async () => {
      const leanFile = path.join(path.dirname(file), 'tiny-sam-encoder.export-lean.onnx');
      execFileSync(
        '/usr/bin/python3',
        [path.join(ROOT, 'python/p2sam_vit_encoder.py'), 'tiny', leanFile, '--lean-attention', '4'],
        {
          env: { ...process.env, PYTHONPATH: segmentAnythingDir() },
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      const bytes = new Uint8Array(readFileSync(leanFile));
      // 64 rows / 4 per chunk: sixteen softmaxes replace the global block's one.
      expect(countOps(bytes, 'Softmax')).toBe(1 + 16);
      const s = await ort.InferenceSession.create(bytes, quiet);
      const lean = (await s.run({ image: input })).image_embeddings!;
      expect(relativeError(reference, lean.data as Float32Array)).toBeLessThan(1e-5);
    }, 120_000);

    it('P2SAM.load applies it by default (off the JS thread) and the embeddings equal those of leanAttention: false', async () => {
      ensureBuilt(); // the rewrite's worker runs the compiled dist/ module
      const decoder = testkitDecoderBytes();
      const { image } = makeScene({ width: 1024, height: 768, seed: 3 });
      const lean = await P2SAM.load({ encoder: file, decoder, threads: 1 });
      const plain = await P2SAM.load({ encoder: file, decoder, threads: 1, leanAttention: false });
      try {
        expect(lean.info.encoder.leanAttention).toBe('1 global-attention block in 16 chunks');
        expect(plain.info.encoder.leanAttention).toBe('off');
        const a = (await plain.encode(image)).toFloat32Array();
        const b = (await lean.encode(image)).toFloat32Array();
        expect(relativeError(a, b)).toBeLessThan(1e-5);
      } finally {
        await lean.dispose();
        await plain.dispose();
      }
    });

    it('p2sam optimize writes the lean copy atomically and reports what it rewrote', () => {
      ensureBuilt();
      const out = path.join(path.dirname(file), 'lean.onnx');
      const r = spawnSync(
        process.execPath,
        [CLI, 'optimize', file, '--out', out, '--chunks', '2', '--json'],
        { encoding: 'utf8' },
      );
      expect(r.status).toBe(0);
      const summary = JSON.parse(r.stdout.trim());
      expect(summary).toMatchObject({ rewritten: 1, chunks: 2, out });
      // Byte comparison through Buffer.equals: a deep toEqual over 4 MB takes half a minute.
      expect(readFileSync(out).equals(Buffer.from(leanAttention(original, { chunks: 2 }).model))).toBe(true);
    });

    it('a minTokens above the global grid leaves the model unchanged and says why', () => {
      const r = leanAttention(original, { minTokens: 64 * 64 + 1 });
      expect(r.rewritten).toBe(0);
      expect(r.model).toBe(original);
      expect(r.reason).toMatch(/no SAM global-attention block recognised.*64×64 tokens/);
    });
  },
);

describe('leanAttention refuses graphs it does not recognise', () => {
  for (const form of ['input_image', 'preprocessed'] as const) {
    for (const variant of ['basic', 'sam-sized'] as const) {
      it(`testkit encoder (${form}, ${variant}): unchanged bytes, reason names the missing attention`, () => {
        const bytes = testkitEncoderBytes({ form, variant });
        const r = leanAttention(bytes);
        expect(r.rewritten).toBe(0);
        expect(r.model).toBe(bytes);
        expect(r.reason).toMatch(/no attention subgraph \(Softmax → MatMul\)/);
      });
    }
  }

  it('P2SAM.load of a testkit encoder: loads as it is, info says why', async () => {
    ensureBuilt();
    const model = await P2SAM.load({
      encoder: testkitEncoderBytes(),
      decoder: testkitDecoderBytes(),
      threads: 1,
    });
    try {
      expect(model.info.encoder.leanAttention).toMatch(/^not applied: no attention subgraph/);
    } finally {
      await model.dispose();
    }
  });

  it('p2sam optimize on a testkit encoder: exit 1, the reason, no output file', () => {
    ensureBuilt();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'p2sam-lean-cli-'));
    const model = path.join(dir, 'enc.onnx');
    writeFileSync(model, testkitEncoderBytes());
    const out = path.join(dir, 'lean.onnx');
    const r = spawnSync(process.execPath, [CLI, 'optimize', model, '--out', out], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/left unchanged, nothing written: no attention subgraph/);
    expect(existsSync(out)).toBe(false);
    const same = spawnSync(process.execPath, [CLI, 'optimize', model, '--out', model], { encoding: 'utf8' });
    expect(same.status).toBe(2);
    expect(same.stderr).toMatch(/--out: must differ from the input model/);
  });

  it('the testkit decoder: unchanged', () => {
    const bytes = testkitDecoderBytes();
    const r = leanAttention(bytes);
    expect(r.rewritten).toBe(0);
    expect(r.model).toBe(bytes);
  });

  it('plain attention without SAM rel-pos terms: unchanged, and the reason says so', async () => {
    const g = new GraphBuilder('plain-attention');
    const q = g.input('q', 'float32', [4, 64, 8]);
    const k = g.input('k', 'float32', [4, 64, 8]);
    const v = g.input('v', 'float32', [4, 64, 8]);
    const scores = g.op('Mul', [
      g.op('MatMul', [q, g.op('Transpose', [k], { perm: [0, 2, 1] })]),
      g.f32(0.35),
    ]);
    g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), v], undefined, 'out');
    g.output('out', 'float32', [4, 64, 8]);
    const bytes = encodeModel({ graph: g.build() }).model;
    const r = leanAttention(bytes, { minTokens: 1 });
    expect(r.rewritten).toBe(0);
    expect(r.model).toBe(bytes);
    expect(r.reason).toMatch(/no decomposed relative-position terms/);
    // Still a valid model ONNX Runtime loads.
    await expect(ort.InferenceSession.create(r.model, quiet)).resolves.toBeDefined();
  });

  it('bad arguments: typed errors naming the parameter', () => {
    expect(() => leanAttention(new Uint8Array(0))).toThrow(/model: expected a non-empty Uint8Array/);
    expect(() => leanAttention('x.onnx' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => leanAttention(Uint8Array.of(0x08), {})).toThrow(/model: not a valid ONNX protobuf/);
    expect(() => leanAttention(testkitEncoderBytes(), { chunks: 1 })).toThrow(
      /options\.chunks: expected an integer ≥ 2, received 1/,
    );
    expect(() => leanAttention(testkitEncoderBytes(), { minTokens: 0.5 })).toThrow(/options\.minTokens/);
  });
});
