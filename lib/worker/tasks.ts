/**
 * The tasks the helper thread runs (lib/worker/offload.ts), by name, with the types of
 * their arguments and results. The same functions run inline when there is no helper
 * thread, so both paths give identical results.
 */
import {
  type DecodedImage,
  type DecodedMask,
  decodeImage,
  decodeMask,
  type ImageSource,
} from '../io/image-decode';
import { modelExternalData, prunedDecoder, type PrunedDecoder } from '../onnx/pruned-decoder';

interface Tasks {
  readImage: { args: { src: ImageSource; window: [number, number] | undefined }; result: DecodedImage };
  readMask: {
    args: { src: ImageSource; expected: { width: number; height: number } | undefined };
    result: DecodedMask;
  };
  pruneDecoder: { args: { path: string } | { bytes: Uint8Array }; result: PrunedDecoder };
  externalData: { args: { bytes: Uint8Array }; result: boolean };
}

export type TaskName = keyof Tasks;
export type TaskArgs<T extends TaskName> = Tasks[T]['args'];
export type TaskResult<T extends TaskName> = Tasks[T]['result'];

/** An error as it crosses the thread boundary: its class and code survive, the stack does not. */
export interface WireError {
  kind: 'P2SamError' | 'TypeError' | 'RangeError' | 'Error';
  code?: string;
  message: string;
}

export function toWireError(err: unknown): WireError {
  if (err instanceof Error) {
    const code = (err as Error & { code?: unknown }).code;
    const kind =
      err.name === 'P2SamError'
        ? 'P2SamError'
        : err instanceof TypeError
          ? 'TypeError'
          : err instanceof RangeError
            ? 'RangeError'
            : 'Error';
    return { kind, code: typeof code === 'string' ? code : undefined, message: err.message };
  }
  return { kind: 'Error', message: String(err) };
}

export function runTask<T extends TaskName>(task: T, args: TaskArgs<T>): Promise<TaskResult<T>> {
  switch (task) {
    case 'readImage': {
      const a = args as TaskArgs<'readImage'>;
      return decodeImage(a.src, a.window) as Promise<TaskResult<T>>;
    }
    case 'readMask': {
      const a = args as TaskArgs<'readMask'>;
      return decodeMask(a.src, a.expected) as Promise<TaskResult<T>>;
    }
    case 'pruneDecoder':
      return prunedDecoder(args as TaskArgs<'pruneDecoder'>) as Promise<TaskResult<T>>;
    case 'externalData':
      return modelExternalData((args as TaskArgs<'externalData'>).bytes) as Promise<TaskResult<T>>;
    default:
      return Promise.reject(new Error(`unknown helper task '${String(task)}'`));
  }
}

/** The buffers of a result that can move back to the caller's thread without a copy. */
export function transferables(value: unknown): ArrayBuffer[] {
  if (value && typeof value === 'object') {
    const out: ArrayBuffer[] = [];
    for (const v of Object.values(value as Record<string, unknown>))
      if (
        ArrayBuffer.isView(v) &&
        v.buffer instanceof ArrayBuffer &&
        v.byteOffset === 0 &&
        v.byteLength === v.buffer.byteLength
      )
        out.push(v.buffer);
    return out;
  }
  return [];
}
