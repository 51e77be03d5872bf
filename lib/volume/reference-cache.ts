/**
 * Prepared reference slices kept across calls: a patient's later visits are all
 * contoured from the same planning visit, so its reference slices need their encoder
 * pass, prototypes and own score once per patient, not once per visit.
 *
 * An entry is keyed by everything its result depends on — the model, the reference
 * series, the slice, a hash of that slice's mask, the encoded rectangle, the HU window
 * and the reference/retrieval options — so a cache shared by unrelated visits can only
 * miss, never return a wrong Reference. It holds JS memory only (feature cells and
 * prototypes of the ROI, tens of KB per slice); `clear()` or `dispose()` frees it.
 */
import type { Reference } from '../reference';

/** @internal what segmentVolume keeps per reference slice. */
export interface CachedReference {
  reference?: Reference;
  selfScore: number | null;
  areaMm2: number;
  /** Why this slice cannot be a reference (its mask covers no feature cell). */
  unusable?: string;
}

/** FNV-1a over a byte range: cheap identity of a mask slice. */
export function hashBytes(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `${h.toString(16)}:${bytes.length}`;
}

export class ReferenceSliceCache {
  #entries = new Map<string, CachedReference>();
  /** Entries created and reused since construction (for reports and tests). */
  readonly stats = { created: 0, reused: 0 };

  get size(): number {
    return this.#entries.size;
  }

  /** @internal */
  get(key: string): CachedReference | undefined {
    const e = this.#entries.get(key);
    if (e) this.stats.reused++;
    return e;
  }

  /** @internal */
  set(key: string, entry: CachedReference): void {
    this.#entries.set(key, entry);
    this.stats.created++;
  }

  /** Disposes every cached Reference and forgets them. */
  clear(): void {
    for (const e of this.#entries.values()) e.reference?.dispose();
    this.#entries.clear();
  }

  dispose(): void {
    this.clear();
  }
}
