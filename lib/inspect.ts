/**
 * What an .onnx or TorchScript file is and whether P2SAM can use it (docs/algorithm.md §3), without
 * loading a pair.
 */
import { existsSync, statSync } from 'node:fs';
import { P2SamError } from './errors';
import { call, native } from './native';
import { isTorchScriptModel, torchAddon } from './torch';
import type { ModelKind, TensorInfo } from './types';
import * as v from './validate';

/** What {@link inspectModel} found in one file. */
export interface ModelReport {
  file: string;
  bytes: number;
  kind: ModelKind;
  role: 'encoder' | 'decoder' | 'unknown';
  usable: boolean;
  /** Why not usable, or notes (e.g. single-mask decoder). */
  reason: string;
  maskOutputs?: number;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  producer: string;
}

/**
 * Classifies one .onnx file (SAM encoder / decoder, SAM 2, unknown) and says whether
 * P2SAM can use it, without loading a pair.
 *
 * @throws {TypeError} `file` is not a non-empty string.
 * @throws {P2SamError} `MODEL_NOT_FOUND` (no such file), `MODEL_INVALID` (not a loadable model).
 * @example
 * ```ts
 * const r = await inspectModel('sam_vit_b_decoder.onnx');
 * console.log(r.kind, r.usable, r.reason); // 'sam-decoder' true ''
 * ```
 */
export async function inspectModel(file: string): Promise<ModelReport> {
  v.nonEmptyString('file', file);
  if (!existsSync(file) || !statSync(file).isFile())
    throw new P2SamError('MODEL_NOT_FOUND', `no model file at '${file}'`);
  // TorchScript files are read by the torch addon (loaded only for them).
  const torchScript = isTorchScriptModel(file);
  const r = await call(
    torchScript ? torchAddon().inspectModel({ path: file }) : native().inspectModel({ path: file }),
  );
  const role = r.kind.includes('encoder') ? 'encoder' : r.kind.includes('decoder') ? 'decoder' : 'unknown';
  let usable = r.kind.startsWith('sam-');
  let reason = r.reason;
  if (r.kind.startsWith('sam2')) reason = 'SAM 2 exports are recognised but not supported yet';
  if (r.kind === 'sam-decoder' && r.maskOutputs === 1)
    reason =
      'single-mask decoder export: usable, but the multimask passes of P2SAM are approximated by its one output';
  if (r.kind === 'sam-decoder' && r.maskOutputs === 0)
    reason = 'mask output count is dynamic; it is checked on the first run';
  if (r.kind === 'unknown') usable = false;
  return {
    file,
    bytes: statSync(file).size,
    kind: r.kind,
    role,
    usable,
    reason,
    ...(role === 'decoder' ? { maskOutputs: r.maskOutputs } : {}),
    inputs: r.inputs,
    outputs: r.outputs,
    producer: r.producer,
  };
}
