/**
 * Argument checks at the public boundary (better-sqlite3 / sharp style).
 *
 * Everything a caller passes is checked here, before any native call: wrong types are
 * `TypeError`, out-of-range values `RangeError`. Messages name the parameter, say what
 * was expected and what arrived, so a user can fix the call without reading our code.
 */
import { argumentError, describeValue } from './errors';
import type { ImageData, MaskData } from './types';

/** Largest side we accept; SAM resizes to 1024 anyway, so bigger images are waste or a bug. */
export const MAX_IMAGE_SIDE = 32768;
/** 200 megapixels: beyond this a decoded RGB buffer alone would be 600 MB. */
export const MAX_IMAGE_PIXELS = 200_000_000;

export function fail(kind: 'type' | 'range', name: string, expected: string, value: unknown): never {
  throw argumentError(kind, { param: name, expected, received: describeValue(value) });
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

export function optionsObject(name: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (!isPlainObject(value)) fail('type', name, 'an options object', value);
  return value;
}

export function integer(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number') fail('type', name, `an integer in ${min}..${max}`, value);
  if (!Number.isInteger(value) || value < min || value > max)
    fail('range', name, `an integer in ${min}..${max}`, value);
  return value;
}

export function optionalInteger(
  name: string,
  value: unknown,
  min: number,
  max: number,
  fallback: number,
): number {
  return value === undefined ? fallback : integer(name, value, min, max);
}

export function finiteNumber(
  name: string,
  value: unknown,
  min: number,
  max: number,
  exclusiveMin = false,
): number {
  const range = `${exclusiveMin ? '(' : '['}${min}, ${max}]`;
  if (typeof value !== 'number') fail('type', name, `a finite number in ${range}`, value);
  if (!Number.isFinite(value) || value < min || value > max || (exclusiveMin && value === min))
    fail('range', name, `a finite number in ${range}`, value);
  return value;
}

export function optionalNumber(
  name: string,
  value: unknown,
  min: number,
  max: number,
  fallback: number,
  exclusiveMin = false,
): number {
  return value === undefined ? fallback : finiteNumber(name, value, min, max, exclusiveMin);
}

export function boolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail('type', name, 'a boolean', value);
  return value;
}

export function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  const expected = allowed.map((a) => `'${a}'`).join(' | ');
  if (typeof value !== 'string') fail('type', name, expected, value);
  if (!(allowed as readonly string[]).includes(value)) fail('range', name, expected, value);
  return value as T;
}

/** An array of distinct values from `allowed` (order kept), or the fallback when undefined. */
export function subsetOf<T extends string>(
  name: string,
  value: unknown,
  allowed: readonly T[],
  fallback: readonly T[],
): T[] {
  if (value === undefined) return [...fallback];
  const expected = `an array of distinct values from ${allowed.map((a) => `'${a}'`).join(', ')}`;
  if (!Array.isArray(value)) fail('type', name, expected, value);
  const seen = new Set<string>();
  value.forEach((x: unknown, i: number) => {
    if (typeof x !== 'string') fail('type', `${name}[${i}]`, allowed.map((a) => `'${a}'`).join(' | '), x);
    if (!(allowed as readonly string[]).includes(x))
      fail('range', `${name}[${i}]`, allowed.map((a) => `'${a}'`).join(' | '), x);
    if (seen.has(x)) fail('range', name, expected, value);
    seen.add(x);
  });
  return value as T[];
}

export function nonEmptyString(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) fail('type', name, 'a non-empty string', value);
  return value;
}

export function func<T extends (...args: never[]) => unknown>(name: string, value: unknown): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') fail('type', name, 'a function', value);
  return value as T;
}

export function abortSignal(name: string, value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) fail('type', name, 'an AbortSignal', value);
  return value;
}

/** An inclusive integer range {min, max} with min ≤ max inside [lo, hi]. */
export function intRange(
  name: string,
  value: unknown,
  lo: number,
  hi: number,
  fallback: { min: number; max: number },
): { min: number; max: number } {
  if (value === undefined) return { ...fallback };
  if (typeof value === 'number') {
    const v = integer(name, value, lo, hi);
    return { min: v, max: v };
  }
  if (!isPlainObject(value)) fail('type', name, `{ min, max } with integers in ${lo}..${hi}`, value);
  const min = integer(`${name}.min`, value.min, lo, hi);
  const max = integer(`${name}.max`, value.max, lo, hi);
  if (min > max)
    throw argumentError('range', {
      param: `${name}.min`,
      expected: 'no greater than max (min ≤ max)',
      received: `min ${min}, max ${max}`,
    });
  return { min, max };
}

function checkSize(name: string, width: unknown, height: unknown): void {
  integer(`${name}.width`, width, 1, MAX_IMAGE_SIDE);
  integer(`${name}.height`, height, 1, MAX_IMAGE_SIDE);
  const pixels = (width as number) * (height as number);
  if (pixels > MAX_IMAGE_PIXELS)
    throw new RangeError(
      `${name} must have at most ${MAX_IMAGE_PIXELS} pixels; received ${width}×${height} = ${pixels}`,
    );
}

export function image(name: string, value: unknown): ImageData {
  if (!isPlainObject(value)) fail('type', name, '{ data, width, height, channels }', value);
  const { data, width, height, channels } = value;
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray))
    fail('type', `${name}.data`, 'a Uint8Array or Uint8ClampedArray', data);
  checkSize(name, width, height);
  if (channels !== 1 && channels !== 3 && channels !== 4)
    fail(typeof channels === 'number' ? 'range' : 'type', `${name}.channels`, '1, 3 or 4', channels);
  const expected = (width as number) * (height as number) * (channels as number);
  if ((data as Uint8Array).length !== expected)
    throw new RangeError(
      `${name}.data must hold width×height×channels = ${width}×${height}×${channels} = ${expected} bytes; received ${(data as Uint8Array).length}`,
    );
  // A snapshot, taken at the call: the native work starts later (after a concurrency
  // slot, on another thread), and the caller may reuse its buffer as soon as the call
  // returns. Each field was read once above, so a getter cannot change it after the checks.
  return {
    data: new Uint8Array(data as Uint8Array),
    width: width as number,
    height: height as number,
    channels: channels as 1 | 3 | 4,
  };
}

export function mask(name: string, value: unknown): MaskData {
  if (!isPlainObject(value)) fail('type', name, '{ data, width, height }', value);
  const { data, width, height } = value;
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray))
    fail('type', `${name}.data`, 'a Uint8Array', data);
  checkSize(name, width, height);
  const expected = (width as number) * (height as number);
  if ((data as Uint8Array).length !== expected)
    throw new RangeError(
      `${name}.data must hold width×height = ${width}×${height} = ${expected} bytes; received ${(data as Uint8Array).length}`,
    );
  // A snapshot, as for images.
  return { data: new Uint8Array(data as Uint8Array), width: width as number, height: height as number };
}

/** A Float32Array of n×d finite values. */
export function featureMatrix(name: string, value: unknown, d: number): { data: Float32Array; n: number } {
  if (!(value instanceof Float32Array)) fail('type', name, `a Float32Array of n×${d} values`, value);
  if (value.length === 0 || value.length % d !== 0)
    throw new RangeError(`${name} must hold n×${d} values (n ≥ 1); received ${value.length} values`);
  for (let i = 0; i < value.length; i++)
    if (!Number.isFinite(value[i]))
      throw new RangeError(`${name} must contain only finite values; element ${i} is ${value[i]}`);
  return { data: value, n: value.length / d };
}

export function weights(name: string, value: unknown, n: number): Float64Array | null {
  if (value === undefined || value === null) return null;
  if (!(value instanceof Float64Array || value instanceof Float32Array || Array.isArray(value)))
    fail('type', name, `a Float64Array (or array) of ${n} non-negative weights`, value);
  const arr = Float64Array.from(value as ArrayLike<number>);
  if (arr.length !== n)
    throw new RangeError(`${name} must have ${n} entries (one per point); received ${arr.length}`);
  let sum = 0;
  for (let i = 0; i < arr.length; i++) {
    if (!Number.isFinite(arr[i]) || arr[i] < 0)
      throw new RangeError(`${name} must be finite and ≥ 0; element ${i} is ${arr[i]}`);
    sum += arr[i];
  }
  if (!(sum > 0)) throw new RangeError(`${name} must have a positive sum; received all zeros`);
  return arr;
}
