/**
 * One list of error codes (native/addon/error_codes.hpp) for C++ and TypeScript:
 * lib/error-codes.ts is generated from it and current; every code a native source
 * raises is listed; every public code is raised somewhere (no dead codes).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { P2SAM_ERROR_CODES } from '../lib';
import { NATIVE_CODE_ALIASES } from '../lib/error-codes';

const root = path.join(__dirname, '..');

function files(dir: string, exts: string[]): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== 'tests') out.push(...files(p, exts));
    } else if (exts.some((e) => name.endsWith(e))) out.push(p);
  }
  return out;
}

/** Codes raised by C++: CoreError("X", …), fail("X", …), coded_error(env, "X", …), invalid_argument(…). */
function nativeRaised(): Map<string, string[]> {
  const raised = new Map<string, string[]>();
  const add = (code: string, file: string) =>
    raised.set(code, [...(raised.get(code) ?? []), path.relative(root, file)]);
  const re =
    /\b(?:CoreError\s*\(|fail\s*\(|coded_error\s*\([^,()]*(?:\([^()]*\))?[^,()]*,)\s*"([A-Z][A-Z0-9_]+)"/g;
  for (const f of files(path.join(root, 'native'), ['.cpp', '.hpp', '.cu', '.cuh'])) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(re)) add(m[1], f);
    if (/\binvalid_argument\s*\(/.test(text)) add('INVALID_ARGUMENT', f);
  }
  return raised;
}

/** Codes raised by TypeScript: new P2SamError('X', …) and v.fail-free literal throws. */
function tsRaised(): Set<string> {
  const raised = new Set<string>();
  // `new P2SamError('CODE', …)` or a local raise helper called with the code first (`fail('CODE', …)`).
  for (const f of files(path.join(root, 'lib'), ['.ts']))
    for (const m of readFileSync(f, 'utf8').matchAll(
      /(?:new P2SamError|\b[a-z]\w*)\(\s*'([A-Z][A-Z0-9_]+)'/g,
    ))
      raised.add(m[1]);
  return raised;
}

describe('error codes', () => {
  it('lib/error-codes.ts is generated from the native list and up to date', async () => {
    const gen = await import('../scripts/gen-error-codes.mjs');
    const header = readFileSync(path.join(root, 'native/addon/error_codes.hpp'), 'utf8');
    const entries = gen.parseErrorCodes(header);
    expect(entries.length).toBeGreaterThan(10);
    expect(
      readFileSync(path.join(root, 'lib/error-codes.ts'), 'utf8'),
      'run node scripts/gen-error-codes.mjs',
    ).toBe(gen.renderErrorCodes(entries));
  });

  it('every code C++ can raise is a P2SamErrorCode or a listed native alias', () => {
    const raised = nativeRaised();
    // The scan itself must see the raise sites it is meant to police.
    for (const known of [
      'MODEL_OUTPUT_INVALID',
      'EMPTY_REFERENCE',
      'DISPOSED',
      'OUT_OF_MEMORY',
      'REFERENCE_DATA_INVALID',
      'BACKEND_UNAVAILABLE',
    ])
      expect(raised.has(known), known).toBe(true);
    const known = new Set<string>([...P2SAM_ERROR_CODES, ...Object.keys(NATIVE_CODE_ALIASES)]);
    const unlisted = [...raised]
      .filter(([code]) => !known.has(code))
      .map(([code, where]) => `${code} (${where.join(', ')})`);
    expect(unlisted).toEqual([]);
  });

  it('every public code is raised somewhere (native or TypeScript): no dead codes', () => {
    const raised = new Set([...nativeRaised().keys(), ...tsRaised()]);
    expect(P2SAM_ERROR_CODES.filter((c) => !raised.has(c))).toEqual([]);
  });

  it('a native error with a code outside the list surfaces as INTERNAL, aliases as their public code', async () => {
    const { fromNative } = await import('../lib/native');
    const coded = (code: string) => Object.assign(new Error('x'), { code });
    expect((fromNative(coded('MADE_UP')) as unknown as { code: string }).code).toBe('INTERNAL');
    expect((fromNative(coded('OUT_OF_MEMORY')) as unknown as { code: string }).code).toBe('INTERNAL');
    expect((fromNative(coded('EMPTY_REFERENCE')) as unknown as { code: string }).code).toBe(
      'EMPTY_REFERENCE',
    );
  });
});
