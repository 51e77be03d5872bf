/**
 * A prepared reference: the reference image's foreground/background features and every
 * prototype set P2SAM will try, computed once (SPEC §2.4: "depends only on the
 * reference: compute once per reference and cache") and reused for any number of
 * targets. The authors' code recomputes all of this — encoder pass included — per target.
 */
import { P2SamError } from './errors';
import type { Mode } from './options';

// Explicit resource management (`using` / `await using`). Node ≥ 20.4 defines these
// symbols (as Symbol.for('nodejs.dispose') / ('nodejs.asyncDispose')); earlier 20.x do
// not, so define them the same way there. The methods below must be keyed by these
// well-known symbols, not by Symbol.for(...), or TypeScript callers cannot `await using`.
const symbols = Symbol as unknown as { dispose?: symbol; asyncDispose?: symbol };
symbols.dispose ??= Symbol.for('nodejs.dispose');
symbols.asyncDispose ??= Symbol.for('nodejs.asyncDispose');

export interface PrototypeSet {
  /** Number of parts (or background parts). */
  k: number;
  /** k × 256 unit-norm rows. */
  prototypes: Float32Array;
  /** k-means inertia of the kept restart (0 for k = 1). */
  inertia: number;
}

export interface ReferenceSummary {
  mode: Mode;
  width: number;
  height: number;
  foregroundCells: number;
  backgroundCells: number;
  parts: number[];
  skippedParts: number[];
  negatives: number[];
  skippedNegatives: number[];
  seed: number;
}

export class Reference {
  #disposed = false;
  /** @internal */ readonly modelId: number;
  readonly mode: Mode;
  readonly width: number;
  readonly height: number;
  /** 64×64 reference grid, 1 = foreground cell (SPEC §2.2). */
  readonly grid: Uint8Array;
  /** @internal N_ref × 256 unnormalised foreground features (the retrieval reference distribution). */
  readonly foreground: Float32Array;
  readonly foregroundCells: number;
  readonly backgroundCells: number;
  /** @internal prototype sets by part count, in ascending k. */
  readonly partSets: PrototypeSet[];
  /** @internal background prototype sets (medical mode) by kb, ascending; kb = 0 has none. */
  readonly negativeSets: PrototypeSet[];
  readonly negativeCounts: number[];
  readonly skippedParts: number[];
  readonly skippedNegatives: number[];
  readonly seed: number;
  readonly timings: { encodeMs: number; featuresMs: number; prototypesMs: number; totalMs: number };

  /** @internal created by P2SAM.createReference */
  constructor(init: {
    modelId: number;
    mode: Mode;
    width: number;
    height: number;
    grid: Uint8Array;
    foreground: Float32Array;
    foregroundCells: number;
    backgroundCells: number;
    partSets: PrototypeSet[];
    negativeSets: PrototypeSet[];
    negativeCounts: number[];
    skippedParts: number[];
    skippedNegatives: number[];
    seed: number;
    timings: { encodeMs: number; featuresMs: number; prototypesMs: number; totalMs: number };
  }) {
    this.modelId = init.modelId;
    this.mode = init.mode;
    this.width = init.width;
    this.height = init.height;
    this.grid = init.grid;
    this.foreground = init.foreground;
    this.foregroundCells = init.foregroundCells;
    this.backgroundCells = init.backgroundCells;
    this.partSets = init.partSets;
    this.negativeSets = init.negativeSets;
    this.negativeCounts = init.negativeCounts;
    this.skippedParts = init.skippedParts;
    this.skippedNegatives = init.skippedNegatives;
    this.seed = init.seed;
    this.timings = init.timings;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** @internal */
  assertUsable(): void {
    if (this.#disposed) throw new P2SamError('DISPOSED', 'this reference has been disposed');
  }

  summary(): ReferenceSummary {
    return {
      mode: this.mode,
      width: this.width,
      height: this.height,
      foregroundCells: this.foregroundCells,
      backgroundCells: this.backgroundCells,
      parts: this.partSets.map((s) => s.k),
      skippedParts: [...this.skippedParts],
      negatives: [...this.negativeCounts],
      skippedNegatives: [...this.skippedNegatives],
      seed: this.seed,
    };
  }

  /** References hold only JS memory; dispose() makes later use an explicit error. */
  dispose(): void {
    this.#disposed = true;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }
}
