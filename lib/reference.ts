/**
 * A prepared reference: the reference image's foreground features and every prototype
 * set P2SAM will try, computed once (docs/algorithm.md §2.4: "depends only on the reference: compute
 * once per reference and cache") and reused for any number of targets. The authors'
 * code recomputes all of this — encoder pass included — per target.
 *
 * Ownership: the features and prototypes live in C++ (runtime::Reference, immutable),
 * behind a native handle like {@link Embedding}'s. `segment()` passes the handle, never
 * the features; a task already running keeps its own share, so `dispose()` during a
 * segment only stops later use. This class holds the small summary a caller reads.
 */
import { P2SamError } from './errors';
import { fromNative, native, type NativeReference, type NativeReferencePrototypes } from './native';
import type { Mode } from './options';
import { fail } from './validate';

// Explicit resource management (`using` / `await using`). Node ≥ 20.4 defines these
// symbols (as Symbol.for('nodejs.dispose') / ('nodejs.asyncDispose')); earlier 20.x do
// not, so define them the same way there. The methods below must be keyed by these
// well-known symbols, not by Symbol.for(...), or TypeScript callers cannot `await using`.
const symbols = Symbol as unknown as { dispose?: symbol; asyncDispose?: symbol };
symbols.dispose ??= Symbol.for('nodejs.dispose');
symbols.asyncDispose ??= Symbol.for('nodejs.asyncDispose');

/** One prototype set of a reference (see {@link Reference.contents}). */
export interface PrototypeSet {
  /** Number of parts (or background parts). */
  k: number;
  /** k × 256 unit-norm rows. */
  prototypes: Float32Array;
  /** k-means inertia of the kept restart (0 for k = 1). */
  inertia: number;
}

/** What a reference learned, without its features: safe to log or show. */
export interface ReferenceSummary {
  mode: Mode;
  width: number;
  height: number;
  foregroundCells: number;
  backgroundCells: number;
  /** Part counts with prototypes, ascending. */
  parts: number[];
  /** Part counts asked for but larger than the number of foreground cells. */
  skippedParts: number[];
  /** Negative counts the retrieval loop tries (0 = no negative point). */
  negatives: number[];
  skippedNegatives: number[];
  seed: number;
}

/** Milliseconds spent preparing a reference (all 0 for one restored with {@link Reference.fromData}). */
export interface ReferenceTimings {
  encodeMs: number;
  featuresMs: number;
  prototypesMs: number;
  totalMs: number;
}

const NO_TIMINGS: ReferenceTimings = { encodeMs: 0, featuresMs: 0, prototypesMs: 0, totalMs: 0 };

/**
 * A prepared reference, held in C++ behind a handle; made by
 * {@link P2SAM.createReference} or restored by {@link Reference.fromData}.
 *
 * @example
 * ```ts
 * using reference = await model.createReference({ image, mask });
 * for (const frame of frames) results.push(await model.segment(frame, { reference }));
 * ```
 */
export class Reference {
  #handle: NativeReference | undefined;
  #disposed = false;
  // Calls holding the handle right now: dispose() frees the native side only after the
  // last of them, so a segment() running across several native calls never meets a
  // released handle half way.
  #leases = 0;
  /** @internal id of the P2SAM instance that built it; undefined when restored from data. */
  readonly modelId: number | undefined;
  /** @internal which encoder's feature space the features live in (see model.ts). */
  readonly encoderIdentity: string;
  readonly mode: Mode;
  /** Size of the reference image, original pixels. */
  readonly width: number;
  readonly height: number;
  /** 64×64 reference grid, 1 = foreground cell (docs/algorithm.md §2.2). */
  readonly grid: Uint8Array;
  readonly foregroundCells: number;
  readonly backgroundCells: number;
  /** Part counts with prototypes, ascending. */
  readonly parts: number[];
  readonly negativeCounts: number[];
  readonly skippedParts: number[];
  readonly skippedNegatives: number[];
  readonly seed: number;
  readonly timings: ReferenceTimings;

  /** @internal created by P2SAM.createReference or Reference.fromData */
  constructor(handle: NativeReference, modelId: number | undefined, timings: ReferenceTimings = NO_TIMINGS) {
    this.#handle = handle;
    const s = handle.summary();
    this.modelId = modelId;
    this.encoderIdentity = s.encoderIdentity;
    this.mode = s.mode;
    this.width = s.width;
    this.height = s.height;
    this.grid = s.grid;
    this.foregroundCells = s.foregroundCells;
    this.backgroundCells = s.backgroundCells;
    this.parts = s.parts;
    this.negativeCounts = s.negatives;
    this.skippedParts = s.skippedParts;
    this.skippedNegatives = s.skippedNegatives;
    this.seed = s.seed;
    this.timings = timings;
  }

  /**
   * Restores a reference saved with {@link Reference.toData}, e.g. a patient's reference
   * kept between studies. It can be used with any model loaded from the same encoder
   * (and normalisation) as the one that made it; `segment` refuses it otherwise.
   *
   * @throws {TypeError} when `data` is not a Uint8Array.
   * @throws {P2SamError} `REFERENCE_DATA_INVALID` when the bytes are not a saved reference
   *   (wrong signature, truncated, checksum mismatch, inconsistent contents);
   *   `REFERENCE_VERSION_UNSUPPORTED` when they were written by a newer format version.
   * @example
   * ```ts
   * await writeFile('patient-17.p2ref', reference.toData());
   * // … later, in another process:
   * const restored = Reference.fromData(new Uint8Array(await readFile('patient-17.p2ref')));
   * const { mask } = await model.segment(study, { reference: restored });
   * ```
   */
  static fromData(data: Uint8Array): Reference {
    if (!(data instanceof Uint8Array))
      fail('type', 'data', 'a Uint8Array written by reference.toData()', data);
    let handle: NativeReference;
    try {
      handle = new (native().NativeReference)(data);
    } catch (err) {
      throw fromNative(err);
    }
    return new Reference(handle, undefined);
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** @internal the native handle (while not disposed) */
  get handle(): NativeReference {
    if (this.#disposed || !this.#handle) throw new P2SamError('DISPOSED', 'this reference has been disposed');
    return this.#handle;
  }

  /** @internal */
  assertUsable(): void {
    void this.handle;
  }

  /**
   * @internal The handle for one call that spans several native calls; `done()` ends the
   * lease (idempotent). A dispose() meanwhile takes effect for later calls at once and
   * frees the native side when the last lease ends.
   */
  lease(): { handle: NativeReference; done: () => void } {
    const handle = this.handle;
    this.#leases++;
    let ended = false;
    return {
      handle,
      done: () => {
        if (ended) return;
        ended = true;
        this.#leases--;
        if (this.#disposed && this.#leases === 0) this.#free();
      },
    };
  }

  #free(): void {
    this.#handle?.release();
    this.#handle = undefined;
  }

  /**
   * The saved form: a versioned, checksummed byte string holding everything `segment`
   * needs (features, prototypes, summary). Restore it with {@link Reference.fromData}.
   *
   * @throws {P2SamError} `DISPOSED` after {@link Reference.dispose}.
   * @example
   * ```ts
   * await writeFile('patient-17.p2ref', reference.toData());
   * ```
   */
  toData(): Uint8Array {
    return this.handle.toData();
  }

  /**
   * @internal Copies of the foreground features (N_ref × 256, unnormalised) and the
   * prototype sets, for tests and benchmarks; the engine never needs them in JS.
   */
  contents(): { foreground: Float32Array; partSets: PrototypeSet[]; negativeSets: PrototypeSet[] } {
    const c = this.handle.contents();
    const sets = (s: NativeReferencePrototypes[]): PrototypeSet[] =>
      s.map((x) => ({ k: x.k, prototypes: x.prototypes, inertia: x.inertia }));
    return { foreground: c.foreground, partSets: sets(c.partSets), negativeSets: sets(c.negativeSets) };
  }

  /**
   * What the reference learned: cell counts and the part / negative counts it will try.
   *
   * @example
   * ```ts
   * console.log(reference.summary()); // { mode: 'natural', parts: [1, 2, 3, 4, 5], ... }
   * ```
   */
  summary(): ReferenceSummary {
    return {
      mode: this.mode,
      width: this.width,
      height: this.height,
      foregroundCells: this.foregroundCells,
      backgroundCells: this.backgroundCells,
      parts: [...this.parts],
      skippedParts: [...this.skippedParts],
      negatives: [...this.negativeCounts],
      skippedNegatives: [...this.skippedNegatives],
      seed: this.seed,
    };
  }

  /**
   * Frees the native features now (a segment already running keeps its own share);
   * later use is a `DISPOSED` error. Safe to call twice.
   */
  dispose(): void {
    this.#disposed = true;
    if (this.#leases === 0) this.#free();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }
}
