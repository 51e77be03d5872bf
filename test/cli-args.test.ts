/** lib/cli/args.ts: the parsers commander runs on flag values. */
import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { parseRange, parseSize, parseWindow } from '../lib/cli/args';

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
