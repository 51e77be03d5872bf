/**
 * Runs the package's own per-byte JavaScript work (image sample conversion, mask
 * thresholding, ONNX decoder pruning) on a helper worker thread, so the caller's event
 * loop — an Electron UI, a server — stays free. Measured before this existed: 25–70 ms of
 * JS-thread time per 12 MP image and ≈ 5.5 ms per MB of decoder, all in one stretch.
 *
 * One worker, started on first use and `unref`'d so it never keeps a process alive.
 * Tasks are independent; the worker runs them as they arrive (the sharp parts of a task
 * are asynchronous, so several tasks overlap there). Inputs are copied into the worker
 * (structured clone), which also snapshots them at call time; outputs come back
 * transferred, without a copy.
 *
 * The worker runs the compiled JavaScript (`offload-worker.js` beside this file, or in
 * dist/ when this module itself runs from TypeScript sources, as under vitest). When no
 * compiled worker exists, or worker threads are unavailable, each task runs on the
 * calling thread instead: the same results, only without the offloading.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { P2SamError, type P2SamErrorCode } from '../errors';
import { runTask, type TaskName, type TaskArgs, type TaskResult, type WireError } from './tasks';

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

let worker: Worker | undefined;
let workerUnavailable = false;
let nextId = 1;
const pending = new Map<number, Pending>();

function packageRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return __dirname;
  }
}

/** The compiled worker entry, or undefined when there is none to run. */
export function workerEntry(): string | undefined {
  const here = path.join(__dirname, 'offload-worker.js');
  if (__filename.endsWith('.js') && existsSync(here)) return here;
  const built = path.join(packageRoot(), 'dist', 'lib', 'worker', 'offload-worker.js');
  return existsSync(built) ? built : undefined;
}

/** Rebuilds an error sent across the thread boundary with its class and code. */
export function reviveError(e: WireError): Error {
  if (e.kind === 'P2SamError') return new P2SamError(e.code as P2SamErrorCode, e.message);
  if (e.kind === 'TypeError') return new TypeError(e.message);
  if (e.kind === 'RangeError') return new RangeError(e.message);
  return new Error(e.message);
}

function failAll(err: Error): void {
  for (const p of pending.values()) p.reject(err);
  pending.clear();
}

function getWorker(): Worker | undefined {
  if (worker || workerUnavailable) return worker;
  const entry = workerEntry();
  if (!entry) {
    workerUnavailable = true;
    return undefined;
  }
  try {
    worker = new Worker(entry);
  } catch {
    workerUnavailable = true;
    return undefined;
  }
  worker.unref();
  worker.on('message', (msg: { id: number; ok: boolean; value?: unknown; error?: WireError }) => {
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (pending.size === 0) worker?.unref();
    if (msg.ok) p.resolve(msg.value);
    else p.reject(reviveError(msg.error!));
  });
  const lost = (why: string) => {
    worker = undefined;
    failAll(new P2SamError('INTERNAL', `the p2sam helper thread stopped (${why}); the call can be retried`));
  };
  worker.on('error', (err) => lost(err.message));
  worker.on('exit', (code) => lost(`exit code ${code}`));
  return worker;
}

/**
 * Runs `task` on the helper thread (or inline when there is none). While tasks are
 * pending the worker is ref'd, so a process waiting on one does not exit under it.
 */
export function offload<T extends TaskName>(
  task: T,
  args: TaskArgs<T>,
  transfer: ArrayBuffer[] = [],
): Promise<TaskResult<T>> {
  const w = getWorker();
  if (!w) return runTask(task, args);
  const id = nextId++;
  return new Promise<TaskResult<T>>((resolve, reject) => {
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    w.ref();
    w.postMessage({ id, task, args }, transfer);
  });
}
