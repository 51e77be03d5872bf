/**
 * A counting semaphore with abortable waits: bounds how many model calls run at once
 * (P2SAM's `concurrency`). Waiters are served first come, first served.
 */
import { throwIfAborted } from './options';

/** @internal */
export class Semaphore {
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
            throwIfAborted(signal);
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
