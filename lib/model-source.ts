/**
 * Where P2SAM.load gets its two models from: a path (checked to exist) or the .onnx /
 * TorchScript bytes, and the pruned copy of the decoder its cascade runs on.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { argumentError, P2SamError } from './errors';
import type { NativeModelSource } from './native';
import { graphOutputs, pruneOutputs } from './onnx/prune';
import * as v from './validate';

/**
 * @internal A checked model argument and the label ModelInfo shows for it. Throws
 * TypeError/RangeError for a wrong type or empty value, MODEL_NOT_FOUND for a missing file.
 */
export function modelSource(name: string, value: unknown): { native: NativeModelSource; label: string } {
  if (typeof value === 'string') {
    if (value.length === 0) v.fail('type', name, 'a path to an .onnx or TorchScript .pt file, or a Uint8Array', value);
    if (!existsSync(value)) throw new P2SamError('MODEL_NOT_FOUND', `${name}: no file at '${value}'`);
    if (!statSync(value).isFile()) throw new P2SamError('MODEL_NOT_FOUND', `${name}: '${value}' is not a file`);
    return { native: { path: value }, label: value };
  }
  if (value instanceof Uint8Array) {
    if (value.length === 0) throw argumentError('range', { param: name, expected: 'a non-empty buffer', received: `an empty ${value.constructor.name}` });
    return { native: { bytes: value }, label: `<${value.length}-byte buffer>` };
  }
  return v.fail('type', name, 'a path to an .onnx or TorchScript .pt file, or a Uint8Array with its bytes', value);
}

/**
 * @internal The decoder without its full-resolution `masks` branch, or undefined when there is
 * nothing to prune or the file cannot be read/parsed here (the native side then simply
 * runs the cascade on the full decoder).
 */
export async function prunedDecoder(source: NativeModelSource): Promise<Uint8Array | undefined> {
  try {
    const bytes = 'path' in source ? new Uint8Array(await readFile(source.path)) : source.bytes;
    if (!graphOutputs(bytes).includes('masks')) return undefined;
    return pruneOutputs(bytes, ['masks'], { removeDeadNodes: true }).model;
  } catch {
    return undefined;
  }
}
