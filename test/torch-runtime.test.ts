/**
 * The libtorch runner (p2sam_torch.node) against the ONNX Runtime one on the testkit:
 * the TorchScript testkit (python/p2sam_testkit_torch.py) implements the ONNX testkit's
 * documented semantics, so the same scenes must give the same embeddings (to float
 * rounding), the same chosen candidates, prompt points and masks. Also: both encoder
 * forms, the single-mask decoder, and every refusal a bad TorchScript file gets.
 *
 * Needs the torch addon (built when CMake finds libtorch) and a Python with torch;
 * .ci/run sets P2SAM_REQUIRE_TORCH=1 so that there a missing addon fails instead of skipping.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { P2SAM, P2SamError } from '../lib';
import { writeTestkitModel } from '../lib/testkit';
import { writeTorchTestkitModels, type TorchTestkitPaths } from '../lib/testkit/torchscript';
import { torchBuildStatus } from '../lib/torch';
import { maskIou, partScenes, tempDir } from './helpers';

const built = torchBuildStatus().built;
if (!built && process.env.P2SAM_REQUIRE_TORCH === '1')
  throw new Error(`P2SAM_REQUIRE_TORCH=1 but ${torchBuildStatus().reason}`);

const { width: W, height: H, reference, targets } = partScenes();

describe.skipIf(!built)('TorchScript models through the same engine as ONNX', () => {
  let dir: string;
  let pt: TorchTestkitPaths;
  let onnx: { encoder: string; decoder: string };
  let onnxModel: P2SAM;
  let torchModel: P2SAM;

  beforeAll(async () => {
    dir = tempDir('torch');
    pt = writeTorchTestkitModels(path.join(dir, 'pt'), { fixtures: true });
    onnx = await writeTestkitModel(path.join(dir, 'onnx'));
    onnxModel = await P2SAM.load({ ...onnx, threads: 2 });
    torchModel = await P2SAM.load({ encoder: pt.encoder, decoder: pt.decoder, threads: 2 });
  }, 120_000);

  it('reports libtorch as the runtime, with the same model kinds as the ONNX pair', () => {
    expect(torchModel.info.encoder).toMatchObject({
      runtime: 'libtorch',
      kind: 'sam-encoder-image',
      provider: 'cpu',
    });
    expect(torchModel.info.decoder).toMatchObject({
      runtime: 'libtorch',
      kind: 'sam-decoder',
      maskOutputs: 4,
      cascade: 'full',
    });
    expect(torchModel.info.decoder.inputs.map((t) => t.name)).toEqual(
      onnxModel.info.decoder.inputs.map((t) => t.name),
    );
    expect(onnxModel.info.encoder.runtime).toBe('onnxruntime');
  });

  it('encodes every scene to the ONNX embedding within float rounding', async () => {
    for (const scene of [reference, ...targets]) {
      const a = (await onnxModel.encode(scene.image)).toFloat32Array();
      const b = (await torchModel.encode(scene.image)).toFloat32Array();
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
      // Features are exp(·) in (0, 1]; Conv vs conv2d summation order differs by a few ulp.
      expect(worst).toBeLessThan(1e-5);
    }
  });

  it('natural mode: identical chosen candidates, points and masks on every target scene', async () => {
    const refA = await onnxModel.createReference({ image: reference.image, mask: reference.mask });
    const refB = await torchModel.createReference({ image: reference.image, mask: reference.mask });
    expect(refB.summary()).toEqual(refA.summary());
    for (const t of targets) {
      const a = await onnxModel.segment(t.image, { reference: refA });
      const b = await torchModel.segment(t.image, { reference: refB });
      expect(b.parts).toBe(a.parts);
      expect(b.points).toEqual(a.points);
      expect(b.candidates.map((c) => c.passes.map((p) => p.token))).toEqual(
        a.candidates.map((c) => c.passes.map((p) => p.token)),
      );
      expect(maskIou(b.mask, a.mask)).toBe(1);
      expect(maskIou(b.mask, t.mask.data)).toBeGreaterThanOrEqual(0.9);
      // Scores are transport costs over features equal to ~1e-6: equal to ~1e-4 relative.
      a.candidates.forEach((c, i) => {
        if (c.score === null) expect(b.candidates[i].score).toBeNull();
        else
          expect(Math.abs(b.candidates[i].score! - c.score)).toBeLessThanOrEqual(
            1e-4 * Math.max(1, Math.abs(c.score)),
          );
      });
    }
  });

  it('medical mode: identical part and negative counts and masks', async () => {
    const opts = { mode: 'medical' as const, parts: { min: 1, max: 3 }, negatives: { min: 1, max: 2 } };
    const refA = await onnxModel.createReference({ image: reference.image, mask: reference.mask }, opts);
    const refB = await torchModel.createReference({ image: reference.image, mask: reference.mask }, opts);
    for (const t of targets.slice(0, 2)) {
      const a = await onnxModel.segment(t.image, { reference: refA });
      const b = await torchModel.segment(t.image, { reference: refB });
      expect([b.parts, b.negatives]).toEqual([a.parts, a.negatives]);
      expect(maskIou(b.mask, a.mask)).toBe(1);
    }
  });

  it('the preprocessed encoder form and the single-mask decoder match their ONNX twins', async () => {
    const { testkitFixtureBytes } = await import('../lib/testkit');
    const onnxPre = await P2SAM.load({
      encoder: testkitFixtureBytes('preprocessed-encoder'),
      decoder: testkitFixtureBytes('single-mask-decoder'),
      threads: 2,
    });
    const torchPre = await P2SAM.load({
      encoder: pt.encoderPreprocessed,
      decoder: pt.decoderSingle,
      threads: 2,
    });
    expect(torchPre.info.encoder.kind).toBe('sam-encoder-preprocessed');
    expect(torchPre.info.decoder.maskOutputs).toBe(1);
    const ea = await onnxPre.encode(targets[0].image);
    const eb = await torchPre.encode(targets[0].image);
    const prompt = { points: [{ x: 0.55 * W, y: 0.5 * H, label: 1 as const }] };
    const a = await onnxPre.predict(ea, prompt);
    const b = await torchPre.predict(eb, prompt);
    expect(b.channels).toBe(1);
    expect(maskIou(b.masks[0], a.masks[0])).toBe(1);
    expect(Math.abs(b.iou[0] - a.iou[0])).toBeLessThan(1e-5);
    await Promise.all([onnxPre.dispose(), torchPre.dispose()]);
  });

  it('an ONNX encoder and a TorchScript decoder form one pair', async () => {
    const mixed = await P2SAM.load({ encoder: onnx.encoder, decoder: pt.decoder, threads: 2 });
    expect([mixed.info.encoder.runtime, mixed.info.decoder.runtime]).toEqual(['onnxruntime', 'libtorch']);
    const ref = await mixed.createReference(
      { image: reference.image, mask: reference.mask },
      { parts: { min: 1, max: 3 } },
    );
    const r = await mixed.segment(targets[0].image, { reference: ref });
    expect(maskIou(r.mask, targets[0].mask.data)).toBeGreaterThanOrEqual(0.9);
    await mixed.dispose();
  });

  it('concurrent segments (and candidates cascaded in parallel) equal the sequential results', async () => {
    const m = await P2SAM.load({ encoder: pt.encoder, decoder: pt.decoder, threads: 2, concurrency: 4 });
    const ref = await m.createReference(
      { image: reference.image, mask: reference.mask },
      { parts: { min: 1, max: 3 } },
    );
    const sequential: Awaited<ReturnType<P2SAM['segment']>>[] = [];
    for (const t of targets) sequential.push(await m.segment(t.image, { reference: ref }));
    const parallel = await Promise.all(
      targets.map((t) => m.segment(t.image, { reference: ref, parallelCandidates: 3 })),
    );
    parallel.forEach((r, i) => {
      expect(Buffer.from(r.mask).equals(Buffer.from(sequential[i].mask))).toBe(true);
      expect(r.candidates.map((c) => c.score)).toEqual(sequential[i].candidates.map((c) => c.score));
    });
    await m.dispose();
  });

  it('inspectModel reads TorchScript files: kind, role, inputs, or why not usable', async () => {
    const { inspectModel } = await import('../lib');
    const enc = await inspectModel(pt.encoder);
    expect(enc).toMatchObject({
      kind: 'sam-encoder-image',
      role: 'encoder',
      usable: true,
      producer: 'torchscript',
    });
    const dec = await inspectModel(pt.decoder);
    expect(dec).toMatchObject({ kind: 'sam-decoder', role: 'decoder', usable: true, maskOutputs: 4 });
    expect(dec.inputs.map((t) => t.name)).toEqual(onnxModel.info.decoder.inputs.map((t) => t.name));
    const bad = await inspectModel(path.join(dir, 'pt', 'fixture-wrong-signature.pt'));
    expect(bad).toMatchObject({ kind: 'unknown', usable: false });
    expect(bad.reason).toMatch(/forward\(Tensor x, Tensor y\)/);
  });

  describe('bad TorchScript files are coded errors', () => {
    const load = (encoder: string, decoder: string) => P2SAM.load({ encoder, decoder, threads: 1 });
    const code = async (p: Promise<unknown>) => {
      const err = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(P2SamError);
      return err as P2SamError;
    };

    it('not TorchScript at all, and a truncated archive: MODEL_INVALID', async () => {
      const text = path.join(dir, 'notes.pt');
      writeFileSync(text, 'this is not a model\n');
      expect((await code(load(text, pt.decoder))).code).toBe('MODEL_INVALID');
      const bytes = readFileSync(pt.decoder);
      const cut = path.join(dir, 'cut.pt');
      writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
      const err = await code(load(pt.encoder, cut));
      expect(err.code).toBe('MODEL_INVALID');
      expect(err.message).toMatch(/decoder/);
    });

    it('a checkpoint of weights (torch.save) is MODEL_UNSUPPORTED and points at p2sam export', async () => {
      const err = await code(load(path.join(dir, 'pt', 'fixture-state-dict.pth'), pt.decoder));
      expect(err.code).toBe('MODEL_UNSUPPORTED');
      expect(err.message).toMatch(/p2sam export/);
    });

    it('a wrong signature is MODEL_UNSUPPORTED naming it; swapped models are MODEL_MISMATCH', async () => {
      const wrong = path.join(dir, 'pt', 'fixture-wrong-signature.pt');
      const err = await code(load(wrong, pt.decoder));
      expect(err.code).toBe('MODEL_UNSUPPORTED');
      expect(err.message).toMatch(/forward\(Tensor x, Tensor y\)/);
      expect((await code(load(pt.encoder, wrong))).code).toBe('MODEL_UNSUPPORTED');
      expect((await code(load(pt.decoder, pt.encoder))).code).toBe('MODEL_MISMATCH');
      expect((await code(load(pt.encoder, pt.encoder))).code).toBe('MODEL_MISMATCH');
    });

    it('a decoder with the right inputs but wrong output shapes fails its probe at load', async () => {
      const err = await code(load(pt.encoder, path.join(dir, 'pt', 'fixture-wrong-shape-decoder.pt')));
      expect(err.code).toBe('MODEL_UNSUPPORTED');
      expect(err.message).toMatch(/iou_predictions has shape \[1,3\]/);
    });

    it('a model whose code needs CUDA is BACKEND_UNAVAILABLE on a CPU-only libtorch, at load', async () => {
      const err = await code(load(path.join(dir, 'pt', 'fixture-cuda-only-encoder.pt'), pt.decoder));
      expect(err.code).toBe('BACKEND_UNAVAILABLE');
      expect(err.message).toMatch(/CUDA/);
    });

    it("modelDevice 'cuda' without a CUDA libtorch is BACKEND_UNAVAILABLE; the model still loads on 'auto'", async () => {
      const { torchStatus } = await import('../lib/torch');
      if (torchStatus().cudaAvailable) return; // a GPU machine: nothing to refuse
      const err = await code(
        P2SAM.load({ encoder: pt.encoder, decoder: pt.decoder, modelDevice: 'cuda', device: 'cpu' }),
      );
      expect(err.code).toBe('BACKEND_UNAVAILABLE');
      const auto = await P2SAM.load({ encoder: pt.encoder, decoder: pt.decoder, device: 'auto', threads: 1 });
      expect(auto.info.modelDevice).toBe('cpu');
      expect(auto.info.deviceReason).toMatch(/TorchScript models/);
      await auto.dispose();
    });

    it('loads from a buffer like from a path', async () => {
      const copy = path.join(dir, 'copy.pt');
      copyFileSync(pt.decoder, copy);
      const m = await P2SAM.load({
        encoder: readFileSync(pt.encoder),
        decoder: readFileSync(copy),
        threads: 1,
      });
      expect(m.info.decoder.runtime).toBe('libtorch');
      await m.dispose();
    });
  });
});
