/**
 * Parsers for option values. Each throws commander's InvalidArgumentError, which
 * commander reports as "option '--parts <range>' argument 'x' is invalid. <why>", so the
 * message always names the flag and the value that arrived.
 */
import { existsSync, statSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { UsageError } from './exit-codes';

const INT = /^[+]?\d+$/;

/** `3` or `1..5` (also `1-5`, which people type by habit). */
export function parseRange(value: string): { min: number; max: number } {
  const v = value.trim();
  const m = /^(\d+)\s*(?:\.\.|-)\s*(\d+)$/.exec(v);
  if (m) {
    const min = Number(m[1]);
    const max = Number(m[2]);
    if (min > max)
      throw new InvalidArgumentError(`expected min..max with min ≤ max; received ${min}..${max}`);
    return { min, max };
  }
  if (INT.test(v)) {
    const n = Number(v);
    return { min: n, max: n };
  }
  throw new InvalidArgumentError('expected a non-negative integer or a range like 1..5');
}

export function intParser(min: number, max: number): (value: string) => number {
  return (value: string) => {
    const v = value.trim();
    if (!INT.test(v)) throw new InvalidArgumentError(`expected an integer in ${min}..${max}`);
    const n = Number(v);
    if (n < min || n > max) throw new InvalidArgumentError(`expected an integer in ${min}..${max}`);
    return n;
  };
}

export function numberParser(min: number, max: number, exclusiveMin = false): (value: string) => number {
  const range = `${exclusiveMin ? '(' : '['}${min}, ${max}]`;
  return (value: string) => {
    const n = Number(value.trim());
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max || (exclusiveMin && n === min))
      throw new InvalidArgumentError(`expected a number in ${range}`);
    return n;
  };
}

/** `lo,hi` in the file's own sample units, e.g. `0,4095` for 12-bit CT in 16-bit PNGs. */
export function parseWindow(value: string): [number, number] {
  const parts = value.split(',').map((s) => s.trim());
  if (parts.length !== 2 || parts.some((p) => p === ''))
    throw new InvalidArgumentError('expected lo,hi (two numbers), e.g. 0,4095');
  // `+ 0` turns a typed '-0' into 0 so the window prints and compares as written.
  const [lo, hi] = parts.map((p) => Number(p) + 0) as [number, number];
  if (!Number.isFinite(lo) || !Number.isFinite(hi))
    throw new InvalidArgumentError('expected lo,hi as two finite numbers');
  if (!(hi > lo)) throw new InvalidArgumentError(`expected lo < hi; received ${lo},${hi}`);
  if (lo < 0 || hi > 65535)
    throw new InvalidArgumentError('expected values within the sample range 0..65535');
  return [lo, hi];
}

/** `480x360` (also `480×360`). */
export function parseSize(value: string): { width: number; height: number } {
  const m = /^(\d+)\s*[x×X]\s*(\d+)$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError('expected WIDTHxHEIGHT, e.g. 480x360');
  const width = Number(m[1]);
  const height = Number(m[2]);
  if (width < 64 || height < 64 || width > 4096 || height > 4096)
    throw new InvalidArgumentError('expected each side in 64..4096');
  return { width, height };
}

/** Checked before any work starts, so a typo costs no model load. */
export function requireFile(flag: string, file: string): string {
  if (!existsSync(file)) throw new UsageError(`${flag}: no such file '${file}'`);
  if (!statSync(file).isFile()) throw new UsageError(`${flag}: '${file}' is not a file`);
  return file;
}

export function requireDir(flag: string, dir: string): string {
  if (!existsSync(dir)) throw new UsageError(`${flag}: no such directory '${dir}'`);
  if (!statSync(dir).isDirectory()) throw new UsageError(`${flag}: '${dir}' is not a directory`);
  return dir;
}

/** An output directory: created when missing; an existing non-directory is refused. */
export function outputDir(flag: string, dir: string): string {
  if (existsSync(dir) && !statSync(dir).isDirectory())
    throw new UsageError(`${flag}: '${dir}' exists and is not a directory`);
  return dir;
}
