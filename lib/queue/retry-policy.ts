/**
 * Which failures a retry can fix. A job whose input is wrong (a missing file, an image
 * that does not decode, an empty reference mask, a malformed job) fails the same way on
 * every attempt, so it is failed at once (BullMQ's UnrecoverableError) and the worker
 * moves on; anything else (an inference error, a full disk, a lost worker) is retried
 * with exponential backoff.
 *
 * Errors travel through Redis as text, so the code is kept at the front of the reason
 * (`IMAGE_READ_FAILED: …`) and parsed back by the producer (`jobError`).
 */
import { UnrecoverableError } from 'bullmq';
import { P2SAM_ERROR_CODES } from '../error-codes';
import { P2SamError, type P2SamErrorCode } from '../errors';

export const DEFAULT_ATTEMPTS = 3;
/** First retry after 1 s, then 2 s, 4 s … (BullMQ's exponential backoff). */
export const DEFAULT_BACKOFF = { type: 'exponential' as const, delay: 1000 };

/**
 * The codes a retry may fix: a run-time failure of the model or the machine (ONNX
 * Runtime erring, a GPU gone, an internal error, a call cut short). Every other code
 * describes the job's input (files, images, DICOM, masks, models, arguments) and fails the
 * same way each time; new codes therefore default to permanent.
 */
const RETRYABLE: ReadonlySet<P2SamErrorCode> = new Set<P2SamErrorCode>([
  'INFERENCE_FAILED',
  'INTERNAL',
  'BACKEND_UNAVAILABLE',
  'ABORTED',
  'DISPOSED',
]);

/** The error a failed job records: `CODE: message`, unrecoverable when no retry can help. */
export function jobFailure(err: unknown): Error {
  if (err instanceof P2SamError) {
    const reason = `${err.code}: ${err.message}`;
    return RETRYABLE.has(err.code) ? new Error(reason, { cause: err }) : new UnrecoverableError(reason);
  }
  // The library's validators throw these for values no retry will change.
  if (err instanceof TypeError || err instanceof RangeError)
    return new UnrecoverableError(`INVALID_ARGUMENT: ${err.message}`);
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string') {
    // ENOENT/EACCES/ENOTDIR on a path named by the job: the input is wrong; EIO/ENOSPC may pass.
    const reason = `${e.code}: ${e.message}`;
    return ['ENOENT', 'EACCES', 'ENOTDIR', 'EISDIR'].includes(e.code)
      ? new UnrecoverableError(reason)
      : new Error(reason);
  }
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * Turns a failed job's reason back into an error: a P2SamError with its code when the
 * reason starts with one, a plain Error otherwise.
 *
 * @example
 *   jobError('IMAGE_READ_FAILED: could not decode x.png').code // 'IMAGE_READ_FAILED'
 */
export function jobError(reason: string): Error {
  const m = /^([A-Z][A-Z_]+): ([\s\S]*)$/.exec(reason);
  if (m) {
    const code = m[1]!;
    if ((P2SAM_ERROR_CODES as readonly string[]).includes(code))
      return new P2SamError(code as P2SamErrorCode, m[2]!);
    return Object.assign(new Error(reason), { code });
  }
  return new Error(reason);
}
