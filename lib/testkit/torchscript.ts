/**
 * The testkit models as TorchScript archives (docs/testkit.md, "TorchScript"), written by
 * python/p2sam_testkit_torch.py: the same semantics as the ONNX testkit, for testing the
 * libtorch runner against models with known answers.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { findTorchPython, PYTHON_DIR } from '../torch-python';

export interface TorchTestkitPaths {
  /** input_image form, f32[H,W,3] RGB 0..255. */
  encoder: string;
  /** f32[1,3,1024,1024], normalised and padded outside. */
  encoderPreprocessed: string;
  /** SAM v1 decoder interface, 4 mask outputs. */
  decoder: string;
  /** 1 mask output (samexporter's return_single_mask rule). */
  decoderSingle: string;
}

/**
 * `fixtures: true` also writes the refusal cases (fixture-wrong-signature.pt,
 * fixture-cuda-only-encoder.pt, fixture-wrong-shape-decoder.pt, fixture-state-dict.pth).
 *
 * @example
 * const pt = writeTorchTestkitModels('models/');
 * const model = await P2SAM.load({ encoder: pt.encoder, decoder: pt.decoder });
 */
export function writeTorchTestkitModels(
  dir: string,
  options: { fixtures?: boolean } = {},
): TorchTestkitPaths {
  mkdirSync(dir, { recursive: true });
  const args = [
    path.join(PYTHON_DIR, 'p2sam_testkit_torch.py'),
    dir,
    ...(options.fixtures ? ['--fixtures'] : []),
  ];
  const r = spawnSync(findTorchPython(), args, { encoding: 'utf8' });
  if (r.status !== 0)
    throw new Error(`p2sam_testkit_torch.py failed (${r.status}): ${r.stderr || r.error?.message}`);
  return {
    encoder: path.join(dir, 'testkit-encoder.pt'),
    encoderPreprocessed: path.join(dir, 'testkit-encoder-preprocessed.pt'),
    decoder: path.join(dir, 'testkit-decoder.pt'),
    decoderSingle: path.join(dir, 'testkit-decoder-single.pt'),
  };
}
