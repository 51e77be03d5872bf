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
import { P2SamError, type P2SamErrorCode } from '../errors';

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
 * The library names options as the API spells them (`options.parts`); on the command
 * line the user typed `--parts`. Rewrites the known names so the message points at the
 * flag to change.
 */
const OPTION_FLAGS: ReadonlyArray<[RegExp, string]> = [
  // Warnings say `retrieval.x` without the `options.` prefix.
  [/\b(options\.)?retrieval\.solver\b/g, '--solver'],
  [/\b(options\.)?retrieval\.weights\b/g, '--weights'],
  [/\b(options\.)?retrieval\.epsilon\b/g, '--epsilon'],
  [/\b(options\.)?retrieval\.maxIterations\b/g, '--max-iterations'],
  [/\boptions\.parallelCandidates\b/g, '--parallel-candidates'],
  [/\boptions\.parts(\.(min|max))?\b/g, '--parts'],
  [/\boptions\.negatives(\.(min|max))?\b/g, '--negatives'],
  [/\boptions\.mode\b/g, '--mode'],
  [/\boptions\.seed\b/g, '--seed'],
  [/\boptions\.restarts\b/g, '--restarts'],
  [/\boptions\.threads\b/g, '--threads'],
  [/\boptions\.normalization\b/g, '--normalization'],
  [/\boptions\.device\b/g, '--device'],
  [/\boptions\.modelDevice\b/g, '--model-device'],
  [/\boptions\.gpuStages\b/g, '--gpu-stages'],
  [/\boptions\.encoder\b/g, '--encoder'],
  [/\boptions\.decoder\b/g, '--decoder'],
  [/\boptions\.window\b/g, '--window'],
];

export function toFlagNames(message: string): string {
  let m = message;
  for (const [re, flag] of OPTION_FLAGS) m = m.replace(re, flag);
  return m;
}

/** One line for stderr: the message, with the error code when the library gave one. */
export function describeError(err: unknown): string {
  if (err instanceof P2SamError) return `${toFlagNames(err.message)} [${err.code}]`;
  if (err instanceof Error) return toFlagNames(err.message);
  return String(err);
}
