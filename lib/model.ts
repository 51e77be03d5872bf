/**
 * The public engine: `P2SAM.load` → `createReference` → `segment`.
 *
 * Thread safety: one P2SAM instance (its two ONNX Runtime sessions) is shared by all
 * calls; calls run on libuv's pool, never on the JS thread. `concurrency` bounds how
 * many run at once (each encoder run already uses every core, so a small number keeps
 * latency predictable). `dispose()` refuses new calls, waits for the ones in flight,
 * then frees the sessions — a call can never see a freed session.
 */
import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { backends, resolveDevices, type Backends } from './backends';
import { Embedding } from './embedding';
import { P2SamError } from './errors';
import { call, native, type NativeModel, type NativeModelInfo, type NativeModelSource } from './native';
import * as opt from './options';
// (./reference also makes sure Symbol.asyncDispose exists on Node < 20.4.)
import { Reference, type PrototypeSet } from './reference';
import { runRetrieval, type SegmentResult } from './segment';
import type { ImageData, MaskData, PromptPoint } from './types';
import * as v from './validate';
import { offload } from './worker/offload';

export interface ModelInfo {
  encoder: NativeModelInfo & { source: string };
  decoder: NativeModelInfo & { source: string };
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

export interface PredictPrompt {
  points?: PromptPoint[];
  /** [xmin, ymin, xmax, ymax] in original pixels, inclusive. */
  box?: [number, number, number, number];
  /** 256×256 low-res logits of an earlier pass (SAM's mask prompt). */
  maskInput?: Float32Array;
}

export interface PredictResult {
  /** One binary (0/1) width×height mask per decoder channel (logits > 0). */
  masks: Uint8Array[];
  /** channels × height × width logits at the original size. */
  logits: Float32Array;
  iou: Float32Array;
  /** channels × 256 × 256 low-res logits (feed one back as maskInput). */
  lowRes: Float32Array;
  channels: number;
  width: number;
  height: number;
}

let nextModelId = 1;

class Semaphore {
  #free: number;
  #waiting: (() => void)[] = [];
  constructor(slots: number) {
    this.#free = slots;
  }
  /** A slot now, or undefined when all are taken (no waiting, no microtask). */
  tryAcquire(): (() => void) | undefined {
    if (this.#free === 0) return undefined;
    this.#free--;
    return this.#releaser();
  }
  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.#free > 0) {
      this.#free--;
    } else {
      await new Promise<void>((resolve, reject) => {
        const grant = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = () => {
          this.#waiting = this.#waiting.filter((w) => w !== grant);
          try {
            opt.throwIfAborted(signal);
          } catch (e) {
            reject(e);
          }
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        this.#waiting.push(grant);
      });
    }
    return this.#releaser();
  }
  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    };
  }
}

function modelSource(name: string, value: unknown): { native: NativeModelSource; label: string } {
  if (typeof value === 'string') {
    if (value.length === 0) v.fail('type', name, 'a path to an .onnx file or a Uint8Array', value);
    if (!existsSync(value)) throw new P2SamError('MODEL_NOT_FOUND', `${name}: no file at '${value}'`);
    if (!statSync(value).isFile()) throw new P2SamError('MODEL_NOT_FOUND', `${name}: '${value}' is not a file`);
    return { native: { path: value }, label: value };
  }
  if (value instanceof Uint8Array) {
    if (value.length === 0) throw new RangeError(`${name} must be a non-empty buffer; received an empty ${value.constructor.name}`);
    return { native: { bytes: value }, label: `<${value.length}-byte buffer>` };
  }
  return v.fail('type', name, 'a path to an .onnx file or a Uint8Array with its bytes', value);
}

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

  private constructor(handle: NativeModel, info: ModelInfo, config: opt.ResolvedLoad) {
    this.#native = handle;
    this.info = info;
    this.#config = config;
    this.#slots = new Semaphore(config.concurrency);
  }

  /** What this build can run on here (CPU always; CUDA with the reason when not). */
  static backends(): Backends {
    return backends();
  }

  static async load(options: opt.LoadOptions): Promise<P2SAM> {
    if (!v.isPlainObject(options)) v.fail('type', 'options', '{ encoder, decoder, ... }', options);
    const o = options as unknown as Record<string, unknown>;
    const encoder = modelSource('options.encoder', o.encoder);
    const decoder = modelSource('options.decoder', o.decoder);
    const config = opt.resolveLoad(o);
    const device = resolveDevices(config.device, config.modelDevice);
    // A buffer whose weights live in external-data files would have them looked up in
    // the working directory: only with a folder named by the caller.
    for (const [name, src] of [
      ['options.encoder', encoder],
      ['options.decoder', decoder],
    ] as const) {
      if (!('bytes' in src.native) || !(await offload('externalData', { bytes: src.native.bytes }))) continue;
      if (!config.externalDataFolder)
        throw new P2SamError(
          'MODEL_UNSUPPORTED',
          `${name} is a buffer whose weights live in external-data files; ONNX Runtime would look for them in the current working directory. Pass options.externalDataFolder (the folder holding those files) or load the model by path`,
        );
      src.native = { bytes: src.native.bytes, externalDataFolder: config.externalDataFolder };
    }
    // Pruning reads and rewrites the whole decoder: the helper thread does it. The pruned
    // copy is bytes, so its external data (if any) is resolved in the decoder's own folder.
    const pruned = config.pruneDecoder ? await offload('pruneDecoder', decoder.native) : undefined;
    const cascadeFolder = 'path' in decoder.native ? path.dirname(path.resolve(decoder.native.path)) : config.externalDataFolder;
    const cascade = pruned?.model
      ? { bytes: pruned.model, ...(pruned.externalData && cascadeFolder ? { externalDataFolder: cascadeFolder } : {}) }
      : undefined;
    const handle = await call(
      native().loadModels({
        encoder: encoder.native,
        decoder: decoder.native,
        ...(cascade ? { decoderCascade: cascade } : {}),
        threads: config.threads,
        graphOptimization: config.graphOptimization,
        memoryPattern: config.memoryPattern,
        cpuArena: config.cpuArena,
        device: device.modelDevice,
      }),
    );
    const raw = handle.info();
    const info: ModelInfo = {
      encoder: { ...raw.encoder, source: encoder.label },
      decoder: { ...raw.decoder, source: decoder.label },
      device: device.device,
      modelDevice: device.modelDevice,
      gpuStages: device.device === 'cuda' ? config.gpuStages : [],
      deviceReason: device.reason,
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

  get disposed(): boolean {
    return this.#native === undefined || this.#disposing !== undefined;
  }

  /** Counters of model runs since load — e.g. to verify a reference is encoded once. */
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
    if (!this.#native || this.#disposing) throw new P2SamError('DISPOSED', 'this model has been disposed');
  }

  async #encode(handle: NativeModel, image: ImageData): Promise<Embedding> {
    const r = await call(handle.encode(image.data, image.width, image.height, image.channels, this.#config.normalization, this.#config.threads));
    this.#stats.encoderRuns++;
    return new Embedding(r.embedding, r.prepareMs + r.encodeMs);
  }

  /** Encodes an image once; the embedding can be passed to segment/createReference. */
  async encode(image: ImageData, options?: { signal?: AbortSignal }): Promise<Embedding> {
    const img = v.image('image', image);
    const o = v.optionsObject('options', options);
    const signal = v.abortSignal('options.signal', o.signal);
    return this.#track(signal, async (h) => {
      const embedding = await this.#encode(h, img);
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
   * Prepares a reference: one encoder pass (unless an Embedding is given), the
   * foreground/background features, and every prototype set for the candidate counts.
   */
  async createReference(
    input: { image: ImageData | Embedding; mask: MaskData },
    options?: opt.ReferenceOptions,
  ): Promise<Reference> {
    if (!v.isPlainObject(input)) v.fail('type', 'input', '{ image, mask }', input);
    const m = v.mask('input.mask', input.mask);
    const isEmbedding = input.image instanceof Embedding;
    const img = isEmbedding ? undefined : v.image('input.image', input.image);
    const width = isEmbedding ? (input.image as Embedding).width : img!.width;
    const height = isEmbedding ? (input.image as Embedding).height : img!.height;
    if (m.width !== width || m.height !== height)
      throw new P2SamError('MASK_SIZE_MISMATCH', `input.mask is ${m.width}×${m.height} but the reference image is ${width}×${height}`);
    const o = opt.resolveReference(v.optionsObject('options', options));
    let foregroundPixels = 0;
    for (let i = 0; i < m.data.length; i++) if (m.data[i] !== 0) foregroundPixels++;
    if (foregroundPixels === 0)
      throw new P2SamError('EMPTY_REFERENCE', 'the reference mask is empty (no non-zero pixel): there is nothing to learn the object from');

    return this.#track(o.signal, async (handle) => {
      const t0 = performance.now();
      let embedding: Embedding;
      if (isEmbedding) {
        embedding = input.image as Embedding;
        this.#checkEmbedding('input.image', embedding);
      } else {
        embedding = await this.#encode(handle, img!);
      }
      try {
        const t1 = performance.now();
        opt.throwIfAborted(o.signal);
        const mask01 = m.data instanceof Uint8Array ? m.data : new Uint8Array(m.data);
        const feats = await call(native().referenceFeatures(embedding.handle, mask01, m.width, m.height, this.#config.threads));
        if (feats.foregroundCount === 0 && foregroundPixels === m.width * m.height)
          throw new P2SamError(
            'EMPTY_REFERENCE',
            'the reference mask covers the whole image: P2SAM centres the mask between its minimum and maximum (SPEC §2.2), so a mask with no background pixel selects no feature cell; crop the reference image so the object does not fill it',
          );
        if (feats.foregroundCount === 0)
          throw new P2SamError(
            'EMPTY_REFERENCE',
            `the reference mask (${foregroundPixels} pixels) covers no 16×16 feature cell at SAM's 1024 scale once resized; use a larger mask or a tighter crop of the image`,
          );
        const t2 = performance.now();
        opt.throwIfAborted(o.signal);
        const kmeans = {
          restarts: o.restarts,
          maxIterations: 300,
          tolerance: 1e-4,
          seed: o.seed,
          threads: this.#config.threads,
          device: this.#stageDevice('kmeans'),
        };
        const partKs = range(o.parts.min, o.parts.max);
        const partRaw = await call(native().prototypes(feats.foreground, feats.foregroundCount, 256, Int32Array.from(partKs), kmeans));
        const partSets: PrototypeSet[] = partRaw.filter((s) => !s.skipped).map((s) => ({ k: s.k, prototypes: s.prototypes, inertia: s.inertia }));
        const skippedParts = partRaw.filter((s) => s.skipped).map((s) => s.k);
        let negativeSets: PrototypeSet[] = [];
        let negativeCounts: number[] = [];
        let skippedNegatives: number[] = [];
        if (o.mode === 'medical') {
          const kbs = range(o.negatives.min, o.negatives.max);
          const positive = kbs.filter((k) => k > 0);
          const bgRaw = positive.length
            ? await call(native().prototypes(feats.background, feats.backgroundCount, 256, Int32Array.from(positive), kmeans))
            : [];
          negativeSets = bgRaw.filter((s) => !s.skipped).map((s) => ({ k: s.k, prototypes: s.prototypes, inertia: s.inertia }));
          skippedNegatives = bgRaw.filter((s) => s.skipped).map((s) => s.k);
          negativeCounts = kbs.filter((k) => k === 0 || negativeSets.some((s) => s.k === k));
        } else {
          negativeCounts = [o.negatives.min];
        }
        if (partSets.length === 0 || negativeCounts.length === 0)
          throw new P2SamError(
            'EMPTY_REFERENCE',
            `the reference has ${feats.foregroundCount} foreground and ${feats.backgroundCount} background feature cells, fewer than every requested part count (${o.parts.min}..${o.parts.max}) or background count; lower options.parts / options.negatives`,
          );
        const t3 = performance.now();
        // k-means is the longest stage; honour an abort that arrived during it.
        opt.throwIfAborted(o.signal);
        this.#stats.references++;
        return new Reference({
          modelId: this.id,
          mode: o.mode,
          width,
          height,
          grid: feats.grid,
          foreground: feats.foreground,
          foregroundCells: feats.foregroundCount,
          backgroundCells: feats.backgroundCount,
          partSets,
          negativeSets,
          negativeCounts,
          skippedParts,
          skippedNegatives,
          seed: o.seed,
          timings: { encodeMs: t1 - t0, featuresMs: t2 - t1, prototypesMs: t3 - t2, totalMs: t3 - t0 },
        });
      } finally {
        if (!isEmbedding) embedding.dispose();
      }
    });
  }

  /** Segments one target with a prepared reference (SPEC §2.5–2.8). */
  async segment(target: ImageData | Embedding, options: opt.SegmentOptions): Promise<SegmentResult> {
    if (!v.isPlainObject(options)) v.fail('type', 'options', '{ reference, retrieval?, signal?, onProgress? }', options);
    const ref = options.reference;
    if (!(ref instanceof Reference)) v.fail('type', 'options.reference', 'a Reference from model.createReference()', ref);
    if (ref.modelId !== this.id)
      throw new P2SamError('MODEL_MISMATCH', 'options.reference was created by a different P2SAM model; references are tied to the encoder that made them');
    ref.assertUsable();
    const isEmbedding = target instanceof Embedding;
    const img = isEmbedding ? undefined : v.image('target', target);
    const o = opt.resolveSegment(options as unknown as Record<string, unknown>);
    if (this.info.decoder.maskOutputs === 1)
      this.warn({
        code: 'SINGLE_MASK_DECODER',
        message:
          'the decoder export has one mask output: it picks its own token (0 with ≥3 prompt points, else the best of 1..3), so the authors\' single-mask/multimask pass choices cannot be reproduced exactly; each pass uses the one output',
      });
    return this.#track(o.signal, async (handle) => {
      const t0 = performance.now();
      o.onProgress?.({ stage: 'encode', fraction: 0 });
      let embedding: Embedding;
      if (isEmbedding) {
        embedding = target as Embedding;
        this.#checkEmbedding('target', embedding);
      } else {
        embedding = await this.#encode(handle, img!);
      }
      try {
        const encodeMs = performance.now() - t0;
        opt.throwIfAborted(o.signal);
        const result = await runRetrieval(
          handle,
          embedding,
          ref,
          o,
          { threads: this.#config.threads, points: this.#stageDevice('points'), scoring: this.#stageDevice('scoring') },
          encodeMs,
        );
        this.#stats.segments++;
        this.#stats.decoderRuns += 3 * result.candidates.length;
        if (result.warnings.some((w) => w.code === 'SINKHORN_NOT_CONVERGED'))
          this.warn(result.warnings.find((w) => w.code === 'SINKHORN_NOT_CONVERGED')!);
        if (this.info.decoder.maskOutputs === 1 && !result.warnings.some((w) => w.code === 'SINGLE_MASK_DECODER'))
          result.warnings.push({ code: 'SINGLE_MASK_DECODER', message: 'single-mask decoder export: multimask passes approximated by its one output' });
        result.timings.totalMs = performance.now() - t0;
        o.onProgress?.({ stage: 'done', fraction: 1 });
        return result;
      } finally {
        if (!isEmbedding) embedding.dispose();
      }
    });
  }

  /**
   * One plain SAM decoder pass on an embedding — the building block P2SAM cascades.
   * Points and box are in original-image pixels; `maskInput` is a previous pass's
   * 256×256 low-res logits. Returns every mask channel the decoder exports.
   */
  async predict(embedding: Embedding, prompt: PredictPrompt, options?: { signal?: AbortSignal }): Promise<PredictResult> {
    if (!(embedding instanceof Embedding)) v.fail('type', 'embedding', 'an Embedding from model.encode()', embedding);
    if (!v.isPlainObject(prompt)) v.fail('type', 'prompt', '{ points?, box?, maskInput? }', prompt);
    // Every value is read once, into what is checked and sent: a getter or Proxy cannot
    // pass the checks with one value and reach the decoder with another (NaN, label 7).
    const points: unknown = prompt.points ?? [];
    if (!Array.isArray(points)) v.fail('type', 'prompt.points', 'an array of { x, y, label }', points);
    const sx = embedding.inputWidth / embedding.width;
    const sy = embedding.inputHeight / embedding.height;
    const coords: number[] = [];
    const labels: number[] = [];
    [...(points as unknown[])].forEach((p, i) => {
      if (!v.isPlainObject(p)) v.fail('type', `prompt.points[${i}]`, '{ x, y, label }', p);
      const { x, y, label } = p;
      coords.push(v.finiteNumber(`prompt.points[${i}].x`, x, -1e6, 1e6) * sx, v.finiteNumber(`prompt.points[${i}].y`, y, -1e6, 1e6) * sy);
      if (label !== 0 && label !== 1) v.fail('range', `prompt.points[${i}].label`, '0 (negative) or 1 (positive)', label);
      labels.push(label);
    });
    const boxIn: unknown = prompt.box;
    if (boxIn !== undefined) {
      if (!Array.isArray(boxIn) || boxIn.length !== 4) v.fail('type', 'prompt.box', '[xmin, ymin, xmax, ymax]', boxIn);
      const b = [...(boxIn as unknown[])].map((x, i) => v.finiteNumber(`prompt.box[${i}]`, x, -1e6, 1e6));
      if (b[0]! > b[2]! || b[1]! > b[3]!) throw new RangeError(`prompt.box must have xmin ≤ xmax and ymin ≤ ymax; received [${b.join(', ')}]`);
      coords.push(b[0]! * sx, b[1]! * sy, b[2]! * sx, b[3]! * sy);
      labels.push(2, 3);
    } else {
      // SAM's ONNX decoder marks "no box" with a padding point (0,0) labelled −1.
      coords.push(0, 0);
      labels.push(-1);
    }
    const maskIn: unknown = prompt.maskInput;
    if (labels.length === 1 && maskIn === undefined)
      throw new RangeError('prompt must contain at least one point, a box or a maskInput; received none');
    let maskInput: Float32Array | null = null;
    if (maskIn !== undefined) {
      if (!(maskIn instanceof Float32Array) || maskIn.length !== 256 * 256)
        v.fail('type', 'prompt.maskInput', 'a Float32Array of 256×256 low-res logits', maskIn);
      maskInput = new Float32Array(maskIn);
    }
    const o = v.optionsObject('options', options);
    const signal = v.abortSignal('options.signal', o.signal);
    return this.#track(signal, async (handle) => {
      if (embedding.disposed) throw new P2SamError('DISPOSED', 'embedding has been disposed');
      const r = await call(handle.decode(embedding.handle, Float32Array.from(coords), Float32Array.from(labels), maskInput, true));
      this.#stats.decoderRuns++;
      const plane = r.width * r.height;
      const masks: Uint8Array[] = [];
      for (let c = 0; c < r.channels; c++) {
        const m = new Uint8Array(plane);
        const logits = r.masks!;
        for (let i = 0; i < plane; i++) m[i] = logits[c * plane + i] > 0 ? 1 : 0;
        masks.push(m);
      }
      return { masks, logits: r.masks!, iou: r.iou, lowRes: r.lowRes, channels: r.channels, width: r.width, height: r.height };
    });
  }

  /** Refuses new calls, waits for calls in flight, then frees the ONNX Runtime sessions. */
  dispose(): Promise<void> {
    if (this.#disposing) return this.#disposing;
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

function range(a: number, b: number): number[] {
  const out: number[] = [];
  for (let k = a; k <= b; k++) out.push(k);
  return out;
}
