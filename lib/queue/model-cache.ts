/**
 * One model load per worker process. Loading a SAM encoder costs seconds and hundreds of
 * MB, so the worker keeps the last model it loaded and hands it to every job that names
 * the same files (jobs running concurrently share it: P2SAM calls are safe to overlap).
 * A job naming other files loads those; the previous model is disposed as soon as no
 * running job holds it, so at most one idle model stays resident.
 */
import * as path from 'node:path';
import { P2SAM } from '../model';
import type { Device, Normalization } from '../options';

export interface ModelKey {
  encoder: string;
  decoder: string;
  normalization?: Normalization;
}

/** Worker-wide load settings: the machine decides these, not the job. */
export interface WorkerLoadSettings {
  threads?: number;
  device?: Device;
}

interface Entry {
  key: string;
  model: Promise<P2SAM>;
  users: number;
}

export class ModelCache {
  readonly #settings: WorkerLoadSettings;
  #current: Entry | undefined;
  readonly #retiring = new Set<Entry>();
  /** How many times a model was loaded (the worker reports it; tests check it stays 1). */
  loads = 0;

  constructor(settings: WorkerLoadSettings = {}) {
    this.#settings = settings;
  }

  /** The model for `key`, loading it if it is not the current one; call `release` when done. */
  async acquire(key: ModelKey): Promise<{ model: P2SAM; release: () => void }> {
    const id = JSON.stringify([
      path.resolve(key.encoder),
      path.resolve(key.decoder),
      key.normalization ?? 'sam',
    ]);
    let entry = this.#current;
    if (!entry || entry.key !== id) {
      if (entry) this.#retire(entry);
      this.loads++;
      const model = P2SAM.load({
        encoder: key.encoder,
        decoder: key.decoder,
        ...(key.normalization ? { normalization: key.normalization } : {}),
        ...(this.#settings.threads !== undefined ? { threads: this.#settings.threads } : {}),
        ...(this.#settings.device ? { device: this.#settings.device } : {}),
      });
      entry = { key: id, model, users: 0 };
      this.#current = entry;
      // A load that fails is not kept: the next job tries again (the file may be fixed by then).
      void model.catch(() => {
        if (this.#current === entry) this.#current = undefined;
      });
    }
    entry.users++;
    const held = entry;
    let model: P2SAM;
    try {
      model = await held.model;
    } catch (err) {
      held.users--;
      throw err;
    }
    let released = false;
    return {
      model,
      release: () => {
        if (released) return;
        released = true;
        held.users--;
        if (this.#retiring.has(held) && held.users === 0) this.#dispose(held);
      },
    };
  }

  #retire(entry: Entry): void {
    this.#current = undefined;
    this.#retiring.add(entry);
    if (entry.users === 0) this.#dispose(entry);
  }

  #dispose(entry: Entry): void {
    this.#retiring.delete(entry);
    void entry.model.then(
      (m) => m.dispose(),
      () => undefined,
    );
  }

  /** Disposes every model (the worker's shutdown). */
  async close(): Promise<void> {
    const entries = [...this.#retiring, ...(this.#current ? [this.#current] : [])];
    this.#current = undefined;
    this.#retiring.clear();
    await Promise.all(
      entries.map((e) =>
        e.model.then(
          (m) => m.dispose(),
          () => undefined,
        ),
      ),
    );
  }
}
