#!/usr/bin/env node
// Generates lib/error-codes.ts from native/addon/error_codes.hpp, the one list of error
// codes (see that header). `--check` exits 1 when the generated file is stale instead of
// writing it (test/error-codes.test.ts runs the same comparison).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const header = path.join(root, 'native/addon/error_codes.hpp');
const target = path.join(root, 'lib/error-codes.ts');

/** [{ code, surfacesAs, doc }] in the header's order. */
export function parseErrorCodes(text) {
  const entries = [];
  for (const m of text.matchAll(/^\s*X\(([A-Z][A-Z0-9_]*),\s*([A-Z][A-Z0-9_]*),\s*"([^"]*)"\)/gm))
    entries.push({ code: m[1], surfacesAs: m[2], doc: m[3] });
  return entries;
}

export function renderErrorCodes(entries) {
  const publicCodes = entries.filter((e) => e.code === e.surfacesAs);
  const aliases = entries.filter((e) => e.code !== e.surfacesAs);
  const lines = [
    '// Generated from native/addon/error_codes.hpp by scripts/gen-error-codes.mjs: edit the',
    '// header and rerun the script, never this file.',
    '',
    '/** Every P2SamError code, in the order of the native list. */',
    'export const P2SAM_ERROR_CODES = [',
    ...publicCodes.map((e) => `  '${e.code}',`),
    '] as const;',
    '',
    '/**',
    ' * The stable `code` of a {@link P2SamError}:',
    ...publicCodes.map((e) => ` * - \`${e.code}\`: ${e.doc}`),
    ' */',
    'export type P2SamErrorCode = (typeof P2SAM_ERROR_CODES)[number];',
    '',
    '/** @internal Native-only codes and the public code each is reported as. */',
    'export const NATIVE_CODE_ALIASES: Readonly<Record<string, P2SamErrorCode>> = {',
    ...aliases.map((e) => `  ${e.code}: '${e.surfacesAs}',`),
    '};',
    '',
  ];
  return lines.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const text = renderErrorCodes(parseErrorCodes(readFileSync(header, 'utf8')));
  if (process.argv.includes('--check')) {
    if (readFileSync(target, 'utf8') !== text) {
      console.error('lib/error-codes.ts is stale: run node scripts/gen-error-codes.mjs');
      process.exit(1);
    }
  } else {
    writeFileSync(target, text);
  }
}
