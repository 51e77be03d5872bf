/** lib/cli/exit-codes.ts: the exit status each kind of error gives, and messages in the flag names a user typed. */
import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { P2SamError } from '../lib/errors';
import { describeError, describeWarning, exitCodeOf, flagFor, UsageError } from '../lib/cli/exit-codes';

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

  it("names the flag a user typed from an error's structured param, never from its message", () => {
    expect(flagFor('options.parts.min')).toBe('--parts');
    expect(flagFor('options.retrieval.solver')).toBe('--solver');
    expect(flagFor('retrieval.maxIterations')).toBe('--max-iterations');
    expect(flagFor('options.gpuStages[1]')).toBe('--gpu-stages[1]');
    expect(flagFor('input.mask')).toBe('input.mask');
    const err = Object.assign(new RangeError('options.parts must be an integer in 1..16; received 0'), {
      param: 'options.parts',
      expected: 'an integer in 1..16',
      received: '0',
    });
    expect(describeError(err)).toBe('--parts must be an integer in 1..16; received 0');
    // A message that merely mentions an option is left alone: only the fields count.
    expect(describeError(new RangeError('options.parts is wrong'))).toBe('options.parts is wrong');
    expect(
      describeWarning({ message: 'not converged', params: ['retrieval.maxIterations', 'retrieval.epsilon'] }),
    ).toBe('not converged (see --max-iterations, --epsilon)');
  });
});
