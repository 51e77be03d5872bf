/**
 * The addon is compiled with NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED (native/build-flags.json),
 * which removes the external ArrayBuffer/Buffer constructors from the N-API and
 * node-addon-api headers, so an addon change that creates one — refused at run time by
 * Electron's V8 memory cage — fails to compile. Checked with the compiler and headers the
 * build uses: a translation unit creating an external ArrayBuffer compiles without the
 * build's defines and fails with them; the build's own flags carry the define.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from './helpers';

const ROOT = path.resolve(__dirname, '..');
const flags = JSON.parse(readFileSync(path.join(ROOT, 'native', 'build-flags.json'), 'utf8')) as {
  addon_defines: string[];
};
const includes = [
  path.join(ROOT, 'node_modules', 'node-api-headers', 'include'),
  path.join(ROOT, 'node_modules', 'node-addon-api'),
];

const SOURCE = `#include <napi.h>
static char storage[16];
Napi::Value Make(const Napi::CallbackInfo& info) {
  return Napi::ArrayBuffer::New(info.Env(), storage, sizeof storage);  // external memory
}
`;

function compile(defines: string[]): { status: number | null; stderr: string } {
  const file = path.join(tempDir('extbuf'), 'external.cpp');
  writeFileSync(file, SOURCE);
  const r = spawnSync(
    'g++',
    ['-std=c++17', '-fsyntax-only', ...includes.map((i) => `-I${i}`), ...defines.map((d) => `-D${d}`), file],
    {
      encoding: 'utf8',
    },
  );
  return { status: r.status, stderr: r.stderr };
}

describe('NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED', () => {
  it('is one of the addon defines', () => {
    expect(flags.addon_defines).toContain('NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED');
  });

  it('turns an external ArrayBuffer into a compile error (and only the define does)', () => {
    const others = flags.addon_defines.filter((d) => d !== 'NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED');
    const without = compile(others);
    expect(without.status, without.stderr).toBe(0);
    const withIt = compile(flags.addon_defines);
    expect(withIt.status).not.toBe(0);
    expect(withIt.stderr).toMatch(/no matching function for call to .*ArrayBuffer::New/);
  }, 60_000);
});
