/** The CLI's pure helpers, tested directly (the commands themselves are spawned elsewhere). */
import { writeFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { CommanderError, InvalidArgumentError } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { P2SamError } from '../lib/errors';
import { parseRange, parseSize, parseWindow } from '../lib/cli/args';
import { describeError, describeWarning, exitCodeOf, flagFor, UsageError } from '../lib/cli/exit-codes';
import { formatOpsets, readOnnxHeader } from '../lib/cli/onnx-header';
import { formatClock, rateAndEta, renderBar } from '../lib/cli/progress';
import { outputNames } from '../lib/cli/segment';
import { testkitDecoderBytes, testkitFixtureBytes } from '../lib/testkit';
import { tempDir } from './cli-helpers';

const work = tempDir('units');
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('outputNames', () => {
  it('uses the base name without extension when names are unique', () => {
    expect(outputNames(['a/frame1.png', 'a/frame2.jpg', 'b/scan.tiff'])).toEqual(['frame1', 'frame2', 'scan']);
  });

  it('prefixes the shortest distinguishing folder run for shared base names', () => {
    expect(outputNames(['/d/a/x.png', '/d/b/x.png', '/d/a/y.png'])).toEqual(['a__x', 'b__x', 'y']);
    expect(outputNames(['/p/one/cam/x.png', '/p/two/cam/x.png'])).toEqual(['one__cam__x', 'two__cam__x']);
  });

  it('falls back to the extension, then a counter, and is stable across calls', () => {
    const files = ['/d/x.png', '/d/x.jpg'];
    expect(outputNames(files)).toEqual(['x_png', 'x_jpg']);
    expect(outputNames(files)).toEqual(outputNames([...files]));
    // Same folder, same stem and extension up to case: only a counter can separate them.
    expect(outputNames(['/d/X.png', '/d/x.png'])).toEqual(['X', 'x-2']);
    expect(outputNames(['/d/a/x.png', '/d/a/x.jpg', '/d/b/x.png'])).toEqual(['a__x_png', 'a__x_jpg', 'b__x_png']);
  });
});

describe('argument parsers', () => {
  it('parses part ranges and single values', () => {
    expect(parseRange('1..5')).toEqual({ min: 1, max: 5 });
    expect(parseRange('2-3')).toEqual({ min: 2, max: 3 });
    expect(parseRange('4')).toEqual({ min: 4, max: 4 });
    expect(() => parseRange('5..1')).toThrow(InvalidArgumentError);
    expect(() => parseRange('a')).toThrow(/range like 1\.\.5/);
    expect(() => parseRange('-1')).toThrow(InvalidArgumentError);
    expect(() => parseRange('1.5')).toThrow(InvalidArgumentError);
  });

  it('parses windows and sizes', () => {
    expect(parseWindow('0,4095')).toEqual([0, 4095]);
    expect(parseWindow(' -0 , 255 ')).toEqual([0, 255]);
    expect(() => parseWindow('100,100')).toThrow(/lo < hi/);
    expect(() => parseWindow('0,70000')).toThrow(/0\.\.65535/);
    expect(() => parseWindow('0')).toThrow(/lo,hi/);
    expect(parseSize('480x360')).toEqual({ width: 480, height: 360 });
    expect(() => parseSize('480')).toThrow(/WIDTHxHEIGHT/);
  });
});

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

  it('names the flag a user typed from an error\'s structured param, never from its message', () => {
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
    expect(describeWarning({ message: 'not converged', params: ['retrieval.maxIterations', 'retrieval.epsilon'] })).toBe(
      'not converged (see --max-iterations, --epsilon)',
    );
  });
});

describe('progress formatting', () => {
  it('formats clocks and estimates rate/ETA from finished plus in-flight work', () => {
    expect(formatClock(7)).toBe('0:07');
    expect(formatClock(3909)).toBe('1:05:09');
    expect(formatClock(NaN)).toBe('--:--');
    expect(rateAndEta({ total: 10, done: 0, current: 0, name: '', elapsedMs: 1000 })).toEqual({});
    const { rate, eta } = rateAndEta({ total: 10, done: 1, current: 1, name: '', elapsedMs: 4000 });
    expect(rate).toBeCloseTo(0.5, 12);
    expect(eta).toBeCloseTo(16, 12);
  });

  it('draws a bar that fits the terminal width', () => {
    const st = { total: 8, done: 4, current: 0, name: 'some/long/path/frame4.png', elapsedMs: 2000 };
    for (const cols of [80, 200]) {
      const line = renderBar(st, cols);
      expect(line.length).toBeLessThan(cols);
      expect(line).toMatch(/^\[#+-+\] 4\/8 +50%  2\.0 targets\/s  ETA 0:02/);
    }
    // Narrow terminals lose the bar and then the rate, never the count or the ETA.
    expect(renderBar(st, 40)).toMatch(/^4\/8 +50%  2\.0 targets\/s  ETA 0:02/);
    expect(renderBar(st, 30)).toMatch(/^4\/8 +50%  ETA 0:02/);
    expect(renderBar(st, 30).length).toBeLessThan(30);
    expect(renderBar(st, 200)).toContain('frame4.png');
    expect(renderBar({ ...st, done: 1, elapsedMs: 5000 }, 80)).toContain('5.0 s/target');
  });
});

describe('readOnnxHeader', () => {
  it('reads IR version, producer and opsets, skipping the graph', () => {
    const file = path.join(work, 'dec.onnx');
    writeFileSync(file, testkitDecoderBytes());
    const h = readOnnxHeader(file);
    expect(h.irVersion).toBe(8);
    expect(h.producer).toBe('p2sam-native-testkit');
    expect(formatOpsets(h.opsets)).toBe('ai.onnx 17');
  });

  it('throws on a truncated model instead of reading past the end', () => {
    const file = path.join(work, 'trunc.onnx');
    writeFileSync(file, testkitFixtureBytes('truncated-model'));
    expect(() => readOnnxHeader(file)).toThrow(/end of the file|end of file/);
  });
});
