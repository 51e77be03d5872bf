/**
 * Loads the compiled addon and gives it a TypeScript shape.
 *
 * Where the addon is looked for (P2SAM_NATIVE_PATH, a local build, a prebuilt platform
 * package, Electron's unpacked asar) is native-loader.ts.
 * Every function here is unvalidated glue: callers in this package validate first.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { NATIVE_CODE_ALIASES, P2SAM_ERROR_CODES } from './error-codes';
import type { TorchRunnerHandoff } from './torch';
import { P2SamError, type P2SamErrorCode } from './errors';
import { loadAddonFrom } from './native-loader';
import type { KMeansSeeding } from './options';
import type { DecoderPass, EmbeddingMeta, GraphInfo, LoadedModelInfo, ModelKind, TensorInfo } from './types';

// The public names of the shapes the addon returns (lib/types.ts), under the names the
// glue below uses.
export type NativeTensorInfo = TensorInfo;
export type NativeGraphInfo = GraphInfo;
export type NativeModelInfo = LoadedModelInfo;
export type NativeEmbeddingMeta = EmbeddingMeta;
export type NativePass = DecoderPass;

export interface NativeEmbedding {
  meta(): NativeEmbeddingMeta;
  data(): Float32Array;
  release(): void;
}

export interface NativeDecodeResult {
  channels: number;
  iou: Float32Array;
  lowRes: Float32Array;
  masks?: Float32Array;
  width: number;
  height: number;
}

export interface NativeCandidateInput {
  parts: number;
  negatives: number;
  xy: Float32Array;
  labels: Float32Array;
}

/** Where the addon's own maths (k-means, point selection, transport) runs. */
export type MathsDevice = 'cpu' | 'cuda';

export interface NativeCandidateRequest {
  /** Ignored when `reference` is given (the reference's own mode is used). */
  mode?: 'natural' | 'medical';
  candidates: NativeCandidateInput[];
  /** The transport source; required when `score` is true. Passed as a handle, never copied. */
  reference?: NativeReference;
  score: boolean;
  solver: 'exact' | 'sinkhorn';
  weights: 'uniform' | 'sigmoid';
  epsilon: number;
  maxIterations: number;
  tolerance: number;
  threads: number;
  parallelCandidates: number;
  /** 'cuda': cost matrices (and Sinkhorn) on the GPU; the exact simplex stays on the CPU. */
  device?: MathsDevice;
  /** From cancelToken(): cancel(token) stops the request between passes and inside the exact simplex (rejects with ABORTED). */
  cancel?: NativeCancelToken;
}

/** Opaque native cancel flag (cancelToken / cancel). */
export type NativeCancelToken = { readonly __brand: 'NativeCancelToken' };

export interface NativeCandidateOutcome {
  /** H×W 0/1 for the winning candidate (lib/segment.ts pickCandidate); empty for all others. */
  mask: Uint8Array;
  area: number;
  empty: boolean;
  score: number | null;
  scored: boolean;
  converged: boolean;
  solverIterations: number;
  targetCells: number;
  box: [number, number, number, number] | null;
  passes: [NativePass, NativePass, NativePass];
  scoreMs: number;
  note: string;
}

/** What a NativeReference tells JS about itself (small: no features). */
export interface NativeReferenceSummary {
  mode: 'natural' | 'medical';
  width: number;
  height: number;
  grid: Uint8Array;
  foregroundCells: number;
  backgroundCells: number;
  parts: number[];
  skippedParts: number[];
  negatives: number[];
  skippedNegatives: number[];
  seed: number;
  encoderIdentity: string;
}

export interface NativeReferencePrototypes {
  k: number;
  prototypes: Float32Array;
  inertia: number;
}

/** A reference held in C++ (runtime::Reference, immutable, shared with running tasks). */
export interface NativeReference {
  summary(): NativeReferenceSummary;
  /** The versioned saved form (native/runtime/reference_format.hpp). */
  toData(): Uint8Array;
  /** Copies of the features and prototypes (tests, benchmarks). */
  contents(): {
    foreground: Float32Array;
    partSets: NativeReferencePrototypes[];
    negativeSets: NativeReferencePrototypes[];
  };
  release(): void;
}

export interface NativeReferenceBuildOptions {
  mode: 'natural' | 'medical';
  partsMin: number;
  partsMax: number;
  negativesMin: number;
  negativesMax: number;
  restarts: number;
  maxIterations: number;
  tolerance: number;
  seed: number;
  /** k-means seeding: scikit-learn's draws or the project's streams (the only ones the CUDA k-means implements). */
  seeding: KMeansSeeding;
  threads: number;
  device: MathsDevice;
  encoderIdentity: string;
}

export interface NativeModel {
  info(): { encoder: NativeModelInfo; decoder: NativeModelInfo };
  encode(
    pixels: Uint8Array | Uint8ClampedArray,
    width: number,
    height: number,
    channels: number,
    normalization: 'sam' | 'medsam',
    threads: number,
  ): Promise<{ embedding: NativeEmbedding; prepareMs: number; encodeMs: number }>;
  decode(
    embedding: NativeEmbedding,
    coords: Float32Array,
    labels: Float32Array,
    maskInput: Float32Array | null,
    wantFullMasks: boolean,
  ): Promise<NativeDecodeResult>;
  runCandidates(
    embedding: NativeEmbedding,
    request: NativeCandidateRequest,
  ): Promise<NativeCandidateOutcome[]>;
  release(): void;
}

/** A model file, or its bytes with the folder their external-data files are resolved in. */
export type NativeModelSource = { path: string } | { bytes: Uint8Array; externalDataFolder?: string };

export interface NativeLoadOptions {
  encoder: NativeModelSource;
  decoder: NativeModelSource;
  /** The decoder with its `masks` branch pruned, for the cascade (optional). */
  decoderCascade?: NativeModelSource;
  /** TorchScript runners from p2sam_torch.node; they replace the encoder / decoder sources. */
  runners?: TorchRunnerHandoff;
  threads: number;
  graphOptimization: number;
  memoryPattern: boolean;
  cpuArena: boolean;
  /** Execution provider of the ONNX Runtime sessions. */
  device: 'cpu' | 'cuda';
}

export interface NativeKMeansOptions {
  restarts: number;
  maxIterations: number;
  tolerance: number;
  seed: number;
  threads: number;
  /** 'sklearn' (default): scikit-learn's KMeans draws; 'p2sam': the project's own streams. */
  seeding?: KMeansSeeding;
  /** 'cuda': the k-means of prototypes() runs on the GPU (seeding 'p2sam' only; 'sklearn' stays on the CPU). */
  device?: MathsDevice;
}

/** Public as core.PrototypeResult. */
export interface NativePrototypeSet {
  k: number;
  /** True when there are fewer points than k: nothing else is filled in. */
  skipped: boolean;
  /** k × d unit-norm rows: the normalised mean of each cluster's members (docs/algorithm.md §2.4). */
  prototypes: Float32Array;
  labels: Int32Array;
  inertia: number;
}

/** Public as core.KMeansResult. */
export interface NativeKMeansResult {
  k: number;
  /** True when there are fewer points than k: nothing else is filled in. */
  skipped: boolean;
  /** One label per point in [0, k); every label is used. */
  labels: Int32Array;
  /** k × d row-major. */
  centroids: Float32Array;
  inertia: number;
  iterations: number;
  /** Index of the kept restart. */
  restart: number;
}

export interface NativeTransportOptions {
  solver: 'exact' | 'sinkhorn';
  epsilon: number;
  maxIterations: number;
  tolerance: number;
  threads: number;
}

export interface NativePointRequest {
  prototypes: Float32Array;
  count: number;
  meanArgmin: boolean;
}

/** Public as core.WassersteinResult. */
export interface NativeTransportResult {
  /** Σ P_ij ‖a_i − b_j‖² of the optimal (or Sinkhorn) plan, weights summing to 1. */
  cost: number;
  /** Exact: optimality reached; Sinkhorn: marginal error below the tolerance. */
  converged: boolean;
  /** Simplex pivots or Sinkhorn iterations. */
  iterations: number;
  /** Sinkhorn: L1 error of the plan's column marginals at exit; exact: 0. */
  marginalError: number;
}

export interface NativeReferenceFeatures {
  grid: Uint8Array;
  foreground: Float32Array;
  foregroundCount: number;
  background: Float32Array;
  backgroundCount: number;
}

export interface NativePointSet {
  /** Interleaved x,y of each map's argmax (original-image pixels). */
  argmax: Int32Array;
  /** x,y of the argmin of the mean map, when asked for. */
  meanArgmin: Int32Array | null;
}

/** CUDA kernels of the core maths (native/cuda); every call rejects with BACKEND_UNAVAILABLE without a GPU. */
export interface GpuBindings {
  kmeans(
    features: Float32Array,
    n: number,
    d: number,
    ks: Int32Array,
    options: Partial<NativeKMeansOptions>,
  ): Promise<NativeKMeansResult[]>;
  costMatrix(a: Float32Array, n: number, b: Float32Array, m: number, d: number): Promise<Float64Array>;
  sinkhorn(
    a: Float32Array,
    n: number,
    b: Float32Array,
    m: number,
    d: number,
    wa: Float64Array | null,
    wb: Float64Array | null,
    options: Partial<NativeTransportOptions>,
  ): Promise<NativeTransportResult>;
}

export interface NativeAddon {
  gpu: GpuBindings;
  NativeEmbedding: new (data: Float32Array, meta: NativeEmbeddingMeta) => NativeEmbedding;
  /** Restores saved reference data; throws REFERENCE_DATA_INVALID / REFERENCE_VERSION_UNSUPPORTED. */
  NativeReference: new (
    data: Uint8Array,
  ) => NativeReference;
  /** Grid, features and every prototype set in one task. */
  buildReference(
    embedding: NativeEmbedding,
    mask: Uint8Array,
    width: number,
    height: number,
    options: NativeReferenceBuildOptions,
  ): Promise<{ reference: NativeReference; featuresMs: number; prototypesMs: number }>;
  /** selectPoints over the reference's own prototype sets (parts, then background sets). */
  selectReferencePoints(
    embedding: NativeEmbedding,
    reference: NativeReference,
    threads: number,
    device?: MathsDevice,
  ): Promise<NativePointSet[]>;
  /** Bytes the addon has copied in from JS buffers so far (diagnostic for tests). */
  copiedInBytes(): number;
  /** lib/cancellable.ts: arm() before the call to make cancellable, then disarm(); cancel() on abort. */
  NativeCancelToken: new () => { arm(): void; disarm(): void; cancel(): void };
  loadModels(options: NativeLoadOptions): Promise<NativeModel>;
  /** Bytes of native memory reported to V8 (napi_adjust_external_memory's total). */
  externalMemory(): number;
  inspectModel(
    source: NativeModelSource,
  ): Promise<NativeGraphInfo & { kind: ModelKind; maskOutputs: number; reason: string }>;
  backends(): {
    ortVersion: string;
    cuda: {
      compiled: boolean;
      available: boolean;
      deviceCount: number;
      deviceName: string;
      computeCapability: string;
      reason: string;
    };
  };
  prototypes(
    features: Float32Array,
    n: number,
    d: number,
    ks: Int32Array,
    options: NativeKMeansOptions,
  ): Promise<NativePrototypeSet[]>;
  kmeans(
    features: Float32Array,
    n: number,
    d: number,
    ks: Int32Array,
    options: NativeKMeansOptions,
  ): Promise<NativeKMeansResult[]>;
  wasserstein(
    a: Float32Array,
    n: number,
    b: Float32Array,
    m: number,
    d: number,
    wa: Float64Array | null,
    wb: Float64Array | null,
    options: NativeTransportOptions,
  ): Promise<NativeTransportResult>;
  referenceFeatures(
    embedding: NativeEmbedding,
    mask: Uint8Array,
    width: number,
    height: number,
    threads: number,
  ): Promise<NativeReferenceFeatures>;
  /** device 'cuda' runs the maps and reductions on the GPU (identical points). */
  selectPoints(
    embedding: NativeEmbedding,
    sets: NativePointRequest[],
    threads: number,
    device?: MathsDevice,
  ): Promise<NativePointSet[]>;
  cancelToken(): NativeCancelToken;
  cancel(token: NativeCancelToken): void;
}

const packageRoot = path.resolve(
  __dirname,
  '..',
  existsSync(path.resolve(__dirname, '..', 'package.json')) ? '' : '..',
);

let cached: { addon: NativeAddon; file: string } | undefined;

/** The loaded addon (native-loader.ts says where it is looked for); throws P2SamError INTERNAL with what was tried. */
export function native(): NativeAddon {
  return loadAddon().addon;
}

/** The path of the loaded p2sam.node. */
export function nativeFile(): string {
  return loadAddon().file;
}

function loadAddon(): { addon: NativeAddon; file: string } {
  cached ??= loadAddonFrom<NativeAddon>(packageRoot);
  return cached;
}

/** Rewraps an error from the addon (plain Error with .code) as a P2SamError. */
export function fromNative(err: unknown): Error {
  if (err instanceof P2SamError) return err;
  if (err instanceof Error) {
    const code = (err as Error & { code?: string }).code;
    if (typeof code === 'string') {
      const mapped: P2SamErrorCode = (P2SAM_ERROR_CODES as readonly string[]).includes(code)
        ? (code as P2SamErrorCode)
        : (NATIVE_CODE_ALIASES[code] ?? 'INTERNAL');
      return new P2SamError(mapped, err.message, { cause: err });
    }
    return err;
  }
  return new P2SamError('INTERNAL', String(err));
}

/** Awaits a native promise and rewraps its rejection. */
export async function call<T>(promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (err) {
    throw fromNative(err);
  }
}
