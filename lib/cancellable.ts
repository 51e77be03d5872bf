/**
 * Runs one native call so that an abort reaches inside it: a NativeCancelToken is armed
 * for the task the call queues (native/addon/cancel_token.hpp) and cancelled when the
 * signal fires, which stops the task's long loops (candidates, Sinkhorn sweeps, simplex
 * pivots, k-means iterations) and terminates its ONNX Runtime Run. The call then rejects
 * like every aborted call: P2SamError ABORTED with the signal's reason as cause.
 */
import { call, native } from './native';
import { throwIfAborted } from './options';

export async function cancellable<T>(signal: AbortSignal | undefined, start: () => Promise<T>): Promise<T> {
  if (!signal) return call(start());
  throwIfAborted(signal);
  const token = new (native().NativeCancelToken)();
  const onAbort = () => token.cancel();
  signal.addEventListener('abort', onAbort, { once: true });
  let pending: Promise<T>;
  try {
    token.arm();
    pending = start();
  } finally {
    token.disarm();
  }
  try {
    return await call(pending);
  } catch (err) {
    // The native side says ABORTED without knowing why; the signal knows.
    throwIfAborted(signal);
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
