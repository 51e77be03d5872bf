/**
 * Entry of the helper thread started by lib/worker/offload.ts: runs each task it is sent
 * and posts back its result (buffers transferred) or its error (class and code kept).
 */
import { parentPort } from 'node:worker_threads';
import { runTask, toWireError, transferables, type TaskName } from './tasks';

parentPort?.on('message', (msg: { id: number; task: TaskName; args: never }) => {
  runTask(msg.task, msg.args).then(
    (value) => parentPort!.postMessage({ id: msg.id, ok: true, value }, transferables(value)),
    (err: unknown) => parentPort!.postMessage({ id: msg.id, ok: false, error: toWireError(err) }),
  );
});
