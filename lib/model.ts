/**
 * The public engine: `P2SAM.load` → `createReference` → `segment`.
 *
 * Thread safety: one P2SAM instance (its two model runners) is shared by all
 * calls; calls run on libuv's pool, never on the JS thread. `concurrency` bounds how
 * many run at once (each encoder run already uses every core, so a small number keeps
 * latency predictable). `dispose()` refuses new calls, waits for the ones in flight,
 * then frees the sessions — a call can never see a freed session.
 */
import { backends, resolveDevices, type Backends } from './backends';
import { cancellable } from './cancellable';
import { Embedding } from './embedding';
import { P2SamError } from './errors';
import { call, native, type NativeModel } from './native';
import * as path from 'node:path';
import { isTorchScriptModel, loadTorchRunners, resolveTorchDevice } from './torch';
import { leanEncoder, modelSource } from './model-source';
import * as opt from './options';
import { decoderPrompt, predictResult, type PredictPrompt, type PredictResult } from './predict';
// (./reference also makes sure Symbol.asyncDispose exists on Node < 20.4.)
import { Reference } from './reference';
import { buildReference, encoderIdentity, referenceRequest } from './reference-builder';
import { runRetrieval, type SegmentResult } from './segment';
import { Semaphore } from './semaphore';
import type { ImageData, LoadedModelInfo, MaskData } from './types';
import * as v from './validate';
import type { MaskVolume, Volume } from './clinical/volume';
import { segmentVolume, type SegmentVolumeOptions, type VolumeSegmentation } from './volume/segment-volume';
import { offload } from './worker/offload';

export type { PredictPrompt, PredictResult } from './predict';

export interface ModelInfo {
  /** `leanAttention`: what the load-time attention rewrite did ('off' when disabled). */
  encoder: LoadedModelInfo & { source: string; leanAttention?: string };
  decoder: LoadedModelInfo & { source: string };
  /** Where the P2SAM maths runs (k-means, point selection, transport costs). */
  device: 'cpu' | 'cuda';
  /** Where the ONNX Runtime sessions (encoder, decoder) run. */
  modelDevice: 'cpu' | 'cuda';
  /** The maths stages that run on the GPU (empty when `device` is 'cpu'). */
  gpuStages: opt.GpuStage[];
  /** Why 'auto' chose the CPU, when it did. */
  deviceReason?: string;
  threads: number;
  normalization: opt.Normalization;
}

let nextModelId = 1;

/**
 * A loaded P2SAM engine: a SAM image encoder and prompt decoder (two ONNX Runtime
 * sessions) plus the P2SAM maths. One instance serves any number of concurrent calls.
 *
 * @example
 * ```ts
 * await using model = await P2SAM.load({ encoder: 'sam_vit_b_encoder.onnx', decoder: 'sam_vit_b_decoder.onnx' });
 * using reference = await model.createReference({ image: refImage, mask: refMask });
 * const { mask, score } = await model.segment(targetImage, { reference });
 * ```
 */
export class P2SAM {
  readonly id = nextModelId++;
  readonly info: ModelInfo;
  #native: NativeModel | undefined;
  #config: opt.ResolvedLoad;
  #slots: Semaphore;
  #inFlight = new Set<Promise<unknown>>();
  #disposing: Promise<void> | undefined;
  #warned = new Set<string>();
  #stats = { encoderRuns: 0, decoderRuns: 0, references: 0, segments: 0 };
  #encoderIdentity: string;

  private constructor(handle: NativeModel, info: ModelInfo, config: opt.ResolvedLoad) {
    this.#native = handle;
    this.info = info;
    this.#config = config;
    this.#slots = new Semaphore(config.concurrency);
    this.#encoderIdentity = encoderIdentity(handle.info().encoder, config.normalization);
  }

  /**
   * What this build can run on here (CPU always; CUDA with the reason when not).
   *
   * @example
   * ```ts
   * const { cuda } = P2SAM.backends();
   * if (!cuda.available) console.log(`CPU only: ${cuda.reason}`);
   * ```
   */
  static backends(): Backends {
    return backends();
  }

  /**
   * Loads an encoder/decoder pair (paths or the bytes) and checks that they are a
   * SAM image encoder and a SAM prompt decoder, in that order. Each may be ONNX (ONNX
   * Runtime) or TorchScript (libtorch; `p2sam_torch.node` is required only then,
   * docs/torchscript.md); `p2sam export` makes both from a checkpoint.
   *
   * @throws {TypeError | RangeError} an option of the wrong type or out of range; the
   *   error's `param`, `expected` and `received` fields say which (see `argumentErrorData`).
   * @throws {P2SamError} `MODEL_NOT_FOUND` (no such file), `MODEL_INVALID` (not a loadable
   *   ONNX model), `MODEL_MISMATCH` (encoder and decoder swapped), `MODEL_UNSUPPORTED`
   *   (e.g. a SAM 2 export, or `normalization: 'medsam'` with an encoder that normalises
   *   inside its graph, or a PyTorch checkpoint that is not TorchScript),
   *   `BACKEND_UNAVAILABLE` (`device: 'cuda'` without a usable GPU; a TorchScript model
   *   without the torch addon, or one whose code needs CUDA on a CPU-only libtorch).
   * @example
   * ```ts
   * const model = await P2SAM.load({
   *   encoder: 'models/sam_vit_b_encoder.onnx',
   *   decoder: 'models/sam_vit_b_decoder.onnx',
   *   device: 'auto', // CUDA when this build and machine have it, else the CPU
   *   onWarning: (w) => console.warn(w.code, w.message),
   * });
   * console.log(model.info.device, model.info.gpuStages);
   * ```
   */
  static async load(options: opt.LoadOptions): Promise<P2SAM> {
    if (!v.isPlainObject(options)) v.fail('type', 'options', '{ encoder, decoder, ... }', options);
    const o = options as unknown as Record<string, unknown>;
    const encoder = modelSource('options.encoder', o.encoder);
    const decoder = modelSource('options.decoder', o.decoder);
    const config = opt.resolveLoad(o);
    // TorchScript members of the pair are loaded by p2sam_torch.node (required only
    // now) and adopted by p2sam.node; an ONNX pair never touches libtorch.
    const torchEncoder = isTorchScriptModel(o.encoder as string | Uint8Array);
    const torchDecoder = isTorchScriptModel(o.decoder as string | Uint8Array);
    const allTorch = torchEncoder && torchDecoder;
    const device = resolveDevices(config.device, allTorch ? 'cpu' : config.modelDevice);
    const torchDevice =
      torchEncoder || torchDecoder
        ? resolveTorchDevice(
            config.modelDevice,
            config.modelDevice === config.device ? 'options.device' : 'options.modelDevice',
          )
        : undefined;
    // An ONNX buffer whose weights live in external-data files would have them looked up
    // in the working directory: only with a folder named by the caller.
    for (const [name, src, torch] of [
      ['options.encoder', encoder, torchEncoder],
      ['options.decoder', decoder, torchDecoder],
    ] as const) {
      if (torch || !('bytes' in src.native) || !(await offload('externalData', { bytes: src.native.bytes })))
        continue;
      if (!config.externalDataFolder)
        throw new P2SamError(
          'MODEL_UNSUPPORTED',
          `${name} is a buffer whose weights live in external-data files; ONNX Runtime would look for them in the current working directory. Pass options.externalDataFolder (the folder holding those files) or load the model by path`,
        );
      src.native = { bytes: src.native.bytes, externalDataFolder: config.externalDataFolder };
    }
    const noLean = {
      path: undefined,
      note: torchEncoder && config.leanAttention ? 'not applied: a TorchScript encoder' : 'off',
      cleanup: undefined,
    };
    // Pruning reads and rewrites the whole decoder and the lean rewrite the whole encoder:
    // both run on helper threads, beside the torch runners' load.
    const [runners, pruned, lean] = await Promise.all([
      torchDevice
        ? loadTorchRunners({
            ...(torchEncoder ? { encoder: encoder.native } : {}),
            ...(torchDecoder ? { decoder: decoder.native } : {}),
            device: torchDevice.device,
            threads: config.threads,
          })
        : undefined,
      config.pruneDecoder && !torchDecoder ? offload('pruneDecoder', decoder.native) : undefined,
      config.leanAttention && !torchEncoder ? leanEncoder(encoder.native) : noLean,
    ]);
    // The pruned copy is bytes, so its external data (if any) is resolved in the decoder's own folder.
    const cascadeFolder =
      'path' in decoder.native ? path.dirname(path.resolve(decoder.native.path)) : config.externalDataFolder;
    const cascade = pruned?.model
      ? {
          bytes: pruned.model,
          ...(pruned.externalData && cascadeFolder ? { externalDataFolder: cascadeFolder } : {}),
        }
      : undefined;
    const load = (enc: typeof encoder.native) =>
      call(
        native().loadModels({
          encoder: enc,
          decoder: decoder.native,
          ...(runners ? { runners } : {}),
          ...(cascade ? { decoderCascade: cascade } : {}),
          threads: config.threads,
          graphOptimization: config.graphOptimization,
          memoryPattern: config.memoryPattern,
          cpuArena: config.cpuArena,
          device: device.modelDevice,
        }),
      );
    // A runtime that refuses the rewritten graph must not cost the user the model: load the original.
    const handle = lean.path
      ? await load({ path: lean.path })
          .catch((e: unknown) => {
            lean.note = `not applied: ONNX Runtime refused the rewritten graph (${e instanceof Error ? e.message : String(e)})`;
            return load(encoder.native);
          })
          .finally(() => lean.cleanup?.())
      : await load(encoder.native);
    const raw = handle.info();
    const info: ModelInfo = {
      encoder: { ...raw.encoder, source: encoder.label, leanAttention: lean.note },
      decoder: { ...raw.decoder, source: decoder.label },
      device: device.device,
      modelDevice: allTorch && torchDevice ? torchDevice.device : device.modelDevice,
      gpuStages: device.device === 'cuda' ? config.gpuStages : [],
      deviceReason: [device.reason, torchDevice?.reason].filter(Boolean).join('; ') || undefined,
      threads: config.threads,
      normalization: config.normalization,
    };
    if (config.normalization === 'medsam' && raw.encoder.kind === 'sam-encoder-image') {
      handle.release();
      throw new P2SamError(
        'MODEL_UNSUPPORTED',
        "normalization 'medsam' needs an encoder with a preprocessed f32[1,3,1024,1024] input; this encoder takes input_image and normalises with SAM's statistics inside its graph",
      );
    }
    return new P2SAM(handle, info, config);
  }

  #stageDevice(stage: opt.GpuStage): 'cpu' | 'cuda' {
    return this.info.gpuStages.includes(stage) ? 'cuda' : 'cpu';
  }

  /** True once {@link P2SAM.dispose} was called. */
  get disposed(): boolean {
    return this.#native === undefined || this.#disposing !== undefined;
  }

  /**
   * Counters of model runs since load — e.g. to verify a reference is encoded once.
   *
   * @example
   * ```ts
   * const before = model.stats().encoderRuns;
   * await model.segment(embedding, { reference });
   * console.log(model.stats().encoderRuns - before); // 0: an Embedding target skips the encoder
   * ```
   */
  stats(): { encoderRuns: number; decoderRuns: number; references: number; segments: number } {
    return { ...this.#stats };
  }

  /** @internal */
  warn(w: opt.Warning): void {
    if (this.#warned.has(w.code)) return;
    this.#warned.add(w.code);
    this.#config.onWarning?.(w);
  }

  /** Runs `fn` inside a concurrency slot, tracked so dispose() can wait for it. */
  async #track<T>(signal: AbortSignal | undefined, fn: (handle: NativeModel) => Promise<T>): Promise<T> {
    this.#assertOpen();
    opt.throwIfAborted(signal);
    // A call that gets a slot at once is registered in #inFlight before this method
    // returns, so a dispose() in the same tick waits for it instead of refusing a call
    // made while the model was open. A call that had to queue may find the model
    // disposed (and its sessions freed) when its turn comes, so it checks again.
    const immediate = this.#slots.tryAcquire();
    const release = immediate ?? (await this.#slots.acquire(signal));
    const run = (async () => {
      try {
        // Keep progress callbacks and native work off the caller's synchronous stack.
        await undefined;
        if (!immediate) this.#assertOpen();
        opt.throwIfAborted(signal);
        return await fn(this.#native as NativeModel);
      } finally {
        release();
      }
    })();
    this.#inFlight.add(run);
    try {
      return await run;
    } finally {
      this.#inFlight.delete(run);
    }
  }

  #assertOpen(): void {
    if (!this.#native || this.#disposing !== undefined)
      throw new P2SamError('DISPOSED', 'this model has been disposed');
  }

  async #encode(handle: NativeModel, image: ImageData, signal?: AbortSignal): Promise<Embedding> {
    // Cancellable: an abort terminates the encoder's ONNX Runtime Run.
    const r = await cancellable(signal, () =>
      handle.encode(
        image.data,
        image.width,
        image.height,
        image.channels,
        this.#config.normalization,
        this.#config.threads,
      ),
    );
    this.#stats.encoderRuns++;
    return new Embedding(r.embedding, r.prepareMs + r.encodeMs);
  }

  /**
   * Encodes an image once; the embedding can be passed to segment/createReference/predict
   * in place of the image, so a frame segmented against several references is encoded once.
   *
   * @throws {TypeError | RangeError} `image` is not a valid {@link ImageData}.
   * @throws {P2SamError} `DISPOSED` (model disposed), `ABORTED` (or the signal's own
   *   reason), `INFERENCE_FAILED` / `MODEL_OUTPUT_INVALID` / `NON_FINITE_EMBEDDING` (the
   *   encoder failed or produced garbage).
   * @example
   * ```ts
   * using embedding = await model.encode(frame);
   * const a = await model.segment(embedding, { reference: liver });
   * const b = await model.segment(embedding, { reference: kidney });
   * ```
   */
  async encode(image: ImageData, options?: { signal?: AbortSignal }): Promise<Embedding> {
    const img = v.image('image', image);
    const o = v.optionsObject('options', options);
    const signal = v.abortSignal('options.signal', o.signal);
    return this.#track(signal, async (h) => {
      const embedding = await this.#encode(h, img, signal);
      // An abort that arrived while the encoder ran still wins: the caller has stopped
      // waiting for this embedding, so free it rather than hand it back.
      try {
        opt.throwIfAborted(signal);
      } catch (err) {
        embedding.dispose();
        throw err;
      }
      return embedding;
    });
  }

  #checkEmbedding(name: string, e: Embedding): void {
    if (e.disposed) throw new P2SamError('DISPOSED', `${name} has been disposed`);
  }

  /**
   * Prepares a reference: one encoder pass (unless an Embedding is given), then one
   * native call that computes the feature grid, the foreground/background features and
   * every prototype set for the candidate counts, kept in C++ behind the returned handle.
   *
   * @throws {TypeError | RangeError} malformed `input` or `options`.
   * @throws {P2SamError} `MASK_SIZE_MISMATCH` (mask and image sizes differ),
   *   `EMPTY_REFERENCE` (the mask is empty, covers the whole image, covers no 16×16 feature
   *   cell, or has fewer cells than every part count), `DISPOSED` (model or embedding),
   *   `ABORTED`, `BACKEND_UNAVAILABLE` (the 'kmeans' GPU stage failed to reach its
   *   device), `INFERENCE_FAILED`.
   * @example
   * ```ts
   * const reference = await model.createReference(
   *   { image: await readImage('ref.png'), mask: await readMask('ref-mask.png') },
   *   { mode: 'medical', parts: { min: 1, max: 5 }, negatives: { min: 1, max: 3 } },
   * );
   * console.log(reference.summary().parts);
   * ```
   */
  async createReference(
    input: { image: ImageData | Embedding; mask: MaskData },
    options?: opt.ReferenceOptions,
  ): Promise<Reference> {
    const req = referenceRequest(input, options);
    return this.#track(req.options.signal, async (handle) => {
      const t0 = performance.now();
      let embedding: Embedding;
      if (req.embedding) {
        embedding = req.embedding;
        this.#checkEmbedding('input.image', embedding);
      } else {
        embedding = await this.#encode(handle, req.image!, req.options.signal);
      }
      try {
        opt.throwIfAborted(req.options.signal);
        const reference = await buildReference(embedding, req, {
          modelId: this.id,
          threads: this.#config.threads,
          kmeansDevice: this.#stageDevice('kmeans'),
          encoderIdentity: this.#encoderIdentity,
          encodeMs: performance.now() - t0,
        });
        // k-means is the longest stage; honour an abort that arrived during it.
        try {
          opt.throwIfAborted(req.options.signal);
        } catch (err) {
          reference.dispose();
          throw err;
        }
        this.#stats.references++;
        return reference;
      } finally {
        if (!req.embedding) embedding.dispose();
      }
    });
  }

  /**
   * Segments a new visit (a CT {@link Volume}) from an annotated earlier visit of the same
   * patient: the visits are aligned along the patient axis, each target slice within the
   * reference ROI's extent is paired with the nearest annotated reference slice (one
   * cached reference per reference slice), and each slice is decided present or absent
   * (docs/volume.md). The same as the standalone `segmentVolume(model, …)`.
   *
   * @throws {TypeError | RangeError} malformed volumes, mask or options.
   * @throws {P2SamError} `VOLUME_GEOMETRY_MISMATCH`, `VOLUME_PATIENT_MISMATCH`,
   *   `VOLUME_ALIGNMENT_FAILED`, `VOLUME_NO_OVERLAP`, `MASK_SIZE_MISMATCH`, `ABORTED`,
   *   and the codes of {@link P2SAM.segment}.
   * @example
   * ```ts
   * const planning = await clinical.readDicomSeries('patient7/ct-planning');
   * const gtv = clinical.readRtstruct('patient7/rtstruct.dcm', planning, { roi: 'GTV' });
   * const visit = await clinical.readDicomSeries('patient7/ct-week3');
   * const r = await model.segmentVolume(visit, { volume: planning, mask: gtv }, { window: 'mediastinum' });
   * clinical.writeRtstruct('week3-gtv.dcm', visit, [{ name: 'GTV (P2SAM)', mask: r.mask }]);
   * ```
   */
  segmentVolume(
    target: Volume,
    reference: { volume: Volume; mask: MaskVolume },
    options?: SegmentVolumeOptions,
  ): Promise<VolumeSegmentation> {
    return segmentVolume(this, target, reference, options);
  }

  /**
   * Segments one target with a prepared reference (docs/algorithm.md §2.5–2.8): prompts for every
   * candidate, the cascaded decoder passes, the Wasserstein score of each candidate
   * against the reference, and the best one. Only handles cross into the addon for the
   * reference: its features never leave C++.
   *
   * @throws {TypeError | RangeError} malformed `target` or options (`options.reference`
   *   must be a {@link Reference}).
   * @throws {P2SamError} `MODEL_MISMATCH` (the reference was made by another model, or
   *   restored from another encoder), `DISPOSED` (model, reference or embedding),
   *   `ABORTED`, `BACKEND_UNAVAILABLE`, `INFERENCE_FAILED`.
   * @example
   * ```ts
   * const result = await model.segment(await readImage('frame-12.png'), {
   *   reference,
   *   retrieval: { solver: 'sinkhorn' },
   *   onProgress: (p) => console.log(p.stage, p.fraction),
   * });
   * if (!result.empty) await writeMaskPng('frame-12.mask.png', { data: result.mask, width: result.width, height: result.height });
   * ```
   */
  async segment(target: ImageData | Embedding, options: opt.SegmentOptions): Promise<SegmentResult> {
    if (!v.isPlainObject(options))
      v.fail('type', 'options', '{ reference, retrieval?, signal?, onProgress? }', options);
    const ref = options.reference;
    if (!(ref instanceof Reference))
      v.fail('type', 'options.reference', 'a Reference from model.createReference()', ref);
    // A reference built here carries this model's id; a restored one (Reference.fromData)
    // has none and must come from the same encoder graph and normalisation.
    if (ref.modelId !== undefined ? ref.modelId !== this.id : ref.encoderIdentity !== this.#encoderIdentity)
      throw new P2SamError(
        'MODEL_MISMATCH',
        ref.modelId !== undefined
          ? 'options.reference was created by a different P2SAM model; references are tied to the encoder that made them'
          : 'options.reference was saved from a model with a different encoder or normalisation; references are tied to the encoder that made them',
      );
    ref.assertUsable();
    const isEmbedding = target instanceof Embedding;
    const img = isEmbedding ? undefined : v.image('target', target);
    const o = opt.resolveSegment(options as unknown as Record<string, unknown>);
    if (this.info.decoder.maskOutputs === 1)
      this.warn({
        code: 'SINGLE_MASK_DECODER',
        message:
          "the decoder export has one mask output: it picks its own token (0 with ≥3 prompt points, else the best of 1..3), so the authors' single-mask/multimask pass choices cannot be reproduced exactly; each pass uses the one output",
      });
    // Held from here to the end of the call: a dispose() of the reference meanwhile
    // refuses later calls at once and frees the native side when this one is done.
    const lease = ref.lease();
    return this.#track(o.signal, async (handle) => {
      const t0 = performance.now();
      o.onProgress?.({ stage: 'encode', fraction: 0 });
      let embedding: Embedding;
      if (isEmbedding) {
        embedding = target as Embedding;
        this.#checkEmbedding('target', embedding);
      } else {
        embedding = await this.#encode(handle, img!, o.signal);
      }
      try {
        const encodeMs = performance.now() - t0;
        opt.throwIfAborted(o.signal);
        const result = await runRetrieval(
          handle,
          embedding,
          ref,
          lease.handle,
          o,
          {
            threads: this.#config.threads,
            points: this.#stageDevice('points'),
            scoring: this.#stageDevice('scoring'),
          },
          encodeMs,
        );
        this.#stats.segments++;
        this.#stats.decoderRuns += 3 * result.candidates.length;
        if (result.warnings.some((w) => w.code === 'SINKHORN_NOT_CONVERGED'))
          this.warn(result.warnings.find((w) => w.code === 'SINKHORN_NOT_CONVERGED')!);
        if (
          this.info.decoder.maskOutputs === 1 &&
          !result.warnings.some((w) => w.code === 'SINGLE_MASK_DECODER')
        )
          result.warnings.push({
            code: 'SINGLE_MASK_DECODER',
            message: 'single-mask decoder export: multimask passes approximated by its one output',
          });
        result.timings.totalMs = performance.now() - t0;
        o.onProgress?.({ stage: 'done', fraction: 1 });
        return result;
      } finally {
        if (!isEmbedding) embedding.dispose();
      }
    }).finally(lease.done);
  }

  /**
   * One plain SAM decoder pass on an embedding — the building block P2SAM cascades.
   * Points and box are in original-image pixels; `maskInput` is a previous pass's
   * 256×256 low-res logits. Returns every mask channel the decoder exports.
   *
   * @throws {TypeError | RangeError} malformed `embedding` or `prompt` (an empty prompt too).
   * @throws {P2SamError} `DISPOSED`, `ABORTED`, `INFERENCE_FAILED`, `MODEL_OUTPUT_INVALID`.
   * @example
   * ```ts
   * using embedding = await model.encode(image);
   * const first = await model.predict(embedding, { points: [{ x: 120, y: 80, label: 1 }] });
   * const refined = await model.predict(embedding, { box: [90, 50, 200, 160], maskInput: first.lowRes.subarray(0, 256 * 256) });
   * ```
   */
  async predict(
    embedding: Embedding,
    prompt: PredictPrompt,
    options?: { signal?: AbortSignal },
  ): Promise<PredictResult> {
    if (!(embedding instanceof Embedding))
      v.fail('type', 'embedding', 'an Embedding from model.encode()', embedding);
    const p = decoderPrompt(embedding, prompt);
    const o = v.optionsObject('options', options);
    const signal = v.abortSignal('options.signal', o.signal);
    return this.#track(signal, async (handle) => {
      if (embedding.disposed) throw new P2SamError('DISPOSED', 'embedding has been disposed');
      const r = await cancellable(signal, () =>
        handle.decode(embedding.handle, p.coords, p.labels, p.maskInput, true),
      );
      this.#stats.decoderRuns++;
      return predictResult(r);
    });
  }

  /**
   * Refuses new calls, waits for calls in flight, then frees the ONNX Runtime sessions.
   * Idempotent: a second call returns the same promise.
   *
   * @example
   * ```ts
   * const model = await P2SAM.load(paths);
   * try { await model.segment(target, { reference }); } finally { await model.dispose(); }
   * ```
   */
  dispose(): Promise<void> {
    if (this.#disposing !== undefined) return this.#disposing;
    this.#disposing = (async () => {
      await Promise.allSettled([...this.#inFlight]);
      this.#native?.release();
      this.#native = undefined;
    })();
    return this.#disposing;
  }

  /** `await using model = await P2SAM.load(...)` disposes at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
