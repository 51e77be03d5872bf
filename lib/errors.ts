/**
 * Errors raised by p2sam-native.
 *
 * Programmer mistakes (wrong types, out-of-range options) are plain `TypeError` /
 * `RangeError` thrown synchronously by the validators in `validate.ts`. Everything that
 * can go wrong at run time with valid arguments (a model that will not load, an empty
 * reference mask, a disposed model, an aborted call) is a `P2SamError` whose `code` is
 * stable and safe to branch on; the message is for humans and may change.
 */

import type { P2SamErrorCode } from './error-codes';

export { P2SAM_ERROR_CODES, type P2SamErrorCode } from './error-codes';

/**
 * An error with a stable {@link P2SamErrorCode} to branch on; the message is for humans.
 *
 * @example
 * ```ts
 * try {
 *   await model.createReference({ image, mask });
 * } catch (err) {
 *   if (err instanceof P2SamError && err.code === 'EMPTY_REFERENCE') console.error('draw a larger mask');
 *   else throw err;
 * }
 * ```
 */
export class P2SamError extends Error {
  readonly code: P2SamErrorCode;

  constructor(code: P2SamErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'P2SamError';
    this.code = code;
  }
}

/**
 * The structured part of a TypeError/RangeError from argument validation: which
 * parameter (as the API spells it, e.g. 'options.parts.min'), what it must be, and what
 * was received. Front ends (the CLI) build their own wording from these fields.
 */
export interface ArgumentErrorData {
  param: string;
  expected: string;
  received: string;
}

/** @internal A TypeError/RangeError carrying {@link ArgumentErrorData}; message "param must be expected; received received". */
export function argumentError(kind: 'type' | 'range', data: ArgumentErrorData): TypeError | RangeError {
  const message = `${data.param} must be ${data.expected}; received ${data.received}`;
  const err = kind === 'type' ? new TypeError(message) : new RangeError(message);
  return Object.assign(err, { param: data.param, expected: data.expected, received: data.received });
}

/**
 * The {@link ArgumentErrorData} of a validation error, or undefined for any other value.
 *
 * @example
 * ```ts
 * try {
 *   await model.createReference({ image, mask }, { parts: 99 });
 * } catch (err) {
 *   console.log(argumentErrorData(err)?.param); // 'options.parts'
 * }
 * ```
 */
export function argumentErrorData(err: unknown): ArgumentErrorData | undefined {
  if (!(err instanceof TypeError || err instanceof RangeError)) return undefined;
  const e = err as Error & Partial<ArgumentErrorData>;
  return typeof e.param === 'string' && typeof e.expected === 'string' && typeof e.received === 'string'
    ? { param: e.param, expected: e.expected, received: e.received }
    : undefined;
}

/** Formats "expected X, received Y" the same way everywhere. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'bigint' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  if (typeof value === 'function') return 'a function';
  if (ArrayBuffer.isView(value))
    return `${value.constructor.name}(length ${(value as unknown as { length?: number }).length ?? value.byteLength})`;
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  return `an object (${Object.prototype.toString.call(value).slice(8, -1)})`;
}
