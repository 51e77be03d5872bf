/** lib/cli/exit-codes.ts: the exit status each kind of error gives, and messages in flag names. */
import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { P2SamError } from '../lib/errors';
import { exitCodeOf, toFlagNames, UsageError } from '../lib/cli/exit-codes';

describe('exit codes', () => {
  it('maps argument problems to 2, run failures to 1, aborts to 130', () => {
    expect(exitCodeOf(new UsageError('x'))).toBe(2);
    expect(exitCodeOf(new RangeError('options.parts ...'))).toBe(2);
    expect(exitCodeOf(new CommanderError(1, 'commander.unknownOption', 'x'))).toBe(2);
    expect(exitCodeOf(new CommanderError(0, 'commander.helpDisplayed', 'x'))).toBe(0);
    expect(exitCodeOf(new P2SamError('MASK_SIZE_MISMATCH', 'x'))).toBe(2);
    expect(exitCodeOf(new P2SamError('MODEL_INVALID', 'x'))).toBe(1);
    expect(exitCodeOf(new P2SamError('INFERENCE_FAILED', 'x'))).toBe(1);
    expect(exitCodeOf(new P2SamError('ABORTED', 'x'))).toBe(130);
    expect(exitCodeOf(new Error('x'))).toBe(1);
  });

  it('rewrites API option names to the flags a user typed', () => {
    expect(toFlagNames('options.parts.min must be ≤ options.parts.max')).toBe('--parts must be ≤ --parts');
    expect(toFlagNames("options.retrieval.solver must be 'exact' | 'sinkhorn'")).toBe("--solver must be 'exact' | 'sinkhorn'");
    expect(toFlagNames('raise retrieval.maxIterations or epsilon')).toBe('raise --max-iterations or epsilon');
  });
});
