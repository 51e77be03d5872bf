/**
 * Exit codes of the `p2sam` command and how an error maps onto them.
 *
 * The split follows who has to act: 2 means "fix the command line" (an argument is
 * malformed, a path does not exist, the reference mask does not fit its image), 1 means
 * "the run failed" with valid arguments (a model that does not load, a corrupt image,
 * an inference error), 130 is the shell's convention for a run stopped by SIGINT
 * (128 + signal 2).
 */
import { CommanderError } from 'commander';
import { argumentErrorData, P2SamError, type P2SamErrorCode } from '../errors';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

/** A problem with the command line itself, raised by the CLI's own checks. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * P2SamError codes that are about the arguments rather than about the run: each of them
 * is fixed by changing what was typed (another path, another mask, another --out).
 */
const USAGE_CODES: ReadonlySet<P2SamErrorCode> = new Set<P2SamErrorCode>([
  'MODEL_NOT_FOUND',
  'TARGET_NOT_FOUND',
  'OUTPUT_PATH_REFUSED',
  'MASK_SIZE_MISMATCH',
  'EMPTY_REFERENCE',
  'INVALID_ARGUMENT',
  // Clinical: the name typed (series, ROI, segment, label) is not in the file.
  'DICOM_SERIES_CHOICE',
  'RTSTRUCT_ROI_NOT_FOUND',
  'SEG_SEGMENT_NOT_FOUND',
  'NIFTI_LABEL_NOT_FOUND',
]);

export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError) return EXIT_USAGE;
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  // The library's validators throw these for out-of-range or mistyped options; from the
  // CLI they can only come from an argument value.
  if (err instanceof TypeError || err instanceof RangeError) return EXIT_USAGE;
  if (err instanceof P2SamError) {
    if (err.code === 'ABORTED') return EXIT_INTERRUPTED;
    return USAGE_CODES.has(err.code) ? EXIT_USAGE : EXIT_FAILURE;
  }
  return EXIT_FAILURE;
}

/**
 * The library names a parameter as the API spells it (`options.parts.min`,
 * `options.gpuStages[1]`, `retrieval.solver`); on the command line the user typed a
 * flag. Maps the structured `param` of an error or warning (never its message) to it.
 */
const PARAM_FLAGS: Readonly<Record<string, string>> = {
  'retrieval.solver': '--solver',
  'retrieval.weights': '--weights',
  'retrieval.epsilon': '--epsilon',
  'retrieval.maxIterations': '--max-iterations',
  parallelCandidates: '--parallel-candidates',
  parts: '--parts',
  negatives: '--negatives',
  mode: '--mode',
  seed: '--seed',
  restarts: '--restarts',
  seeding: '--kmeans-seeding',
  threads: '--threads',
  normalization: '--normalization',
  device: '--device',
  modelDevice: '--model-device',
  gpuStages: '--gpu-stages',
  encoder: '--encoder',
  decoder: '--decoder',
  window: '--window',
};

export function flagFor(param: string): string {
  // 'options.' prefix, then the option, then an optional '.min'/'.max' of a range and an
  // optional '[i]' of a list.
  const m = /^(?:options\.)?(.+?)(?:\.(?:min|max))?(\[\d+\])?$/.exec(param);
  const flag = m ? PARAM_FLAGS[m[1]!] : undefined;
  return flag ? flag + (m![2] ?? '') : param;
}

/** A validation error in the flags' terms, from its structured fields; undefined for other errors. */
export function describeArgumentError(err: unknown): string | undefined {
  const arg = argumentErrorData(err);
  return arg ? `${flagFor(arg.param)} must be ${arg.expected}; received ${arg.received}` : undefined;
}

/** A library warning for stderr, naming the flags that address it. */
export function describeWarning(w: { message: string; params?: string[] }): string {
  return w.params?.length ? `${w.message} (see ${w.params.map(flagFor).join(', ')})` : w.message;
}

/** One line for stderr: the message, with the error code when the library gave one. */
export function describeError(err: unknown): string {
  const arg = describeArgumentError(err);
  if (arg) return arg;
  if (err instanceof P2SamError) return `${err.message} [${err.code}]`;
  if (err instanceof Error) return err.message;
  return String(err);
}
