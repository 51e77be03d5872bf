/**
 * lib/native-loader.ts on real folders: which platform package names this machine asks
 * for, the app.asar → app.asar.unpacked rewrite, and the order and reasons of the
 * candidates for a package laid out as npm installs it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { addonCandidates, libcFamily, platformPackageNames, unpackedPath } from '../lib/native-loader';
import { tempDir } from './helpers';

describe('platform package names', () => {
  it('names this machine by platform, arch and libc; P2SAM_VARIANT picks or skips the CUDA variant', () => {
    const base = `p2sam-native-${process.platform}-${process.arch}${libcFamily() ? `-${libcFamily()}` : ''}`;
    expect(platformPackageNames({ P2SAM_VARIANT: 'cpu' })).toEqual([base]);
    expect(platformPackageNames({ P2SAM_VARIANT: 'cuda' })).toEqual([`${base}-cuda`, base]);
    if (process.platform === 'linux') expect(libcFamily()).toBe('gnu'); // Debian: glibc
  });
});

describe('the asar rewrite', () => {
  it('moves app.asar paths to app.asar.unpacked and leaves look-alikes alone', () => {
    expect(unpackedPath('/opt/App/resources/app.asar/node_modules/x/p2sam.node')).toBe(
      '/opt/App/resources/app.asar.unpacked/node_modules/x/p2sam.node',
    );
    expect(unpackedPath('C:\\App\\resources\\app.asar\\node_modules\\x.node')).toBe(
      'C:\\App\\resources\\app.asar.unpacked\\node_modules\\x.node',
    );
    expect(unpackedPath('/data/my-app.asar/x.node')).toBe('/data/my-app.asar/x.node');
    expect(unpackedPath('/data/app.asar.unpacked/x.node')).toBe('/data/app.asar.unpacked/x.node');
  });
});

describe('candidates', () => {
  const lay = (versions: Record<string, string>) => {
    const nm = path.join(tempDir('loader'), 'node_modules');
    for (const [name, version] of Object.entries(versions)) {
      mkdirSync(path.join(nm, name), { recursive: true });
      writeFileSync(path.join(nm, name, 'package.json'), JSON.stringify({ name, version }));
      if (name !== 'p2sam-native') writeFileSync(path.join(nm, name, 'p2sam.node'), '');
    }
    return path.join(nm, 'p2sam-native');
  };
  const cpu = platformPackageNames({ P2SAM_VARIANT: 'cpu' })[0]!;

  it('local builds first, then the platform packages found beside the package, CUDA first when asked', () => {
    const root = lay({ 'p2sam-native': '1.2.3', [cpu]: '1.2.3', [`${cpu}-cuda`]: '1.2.3' });
    const list = addonCandidates(root, { P2SAM_VARIANT: 'cuda' });
    expect(list.map((c) => [c.source, c.problem])).toEqual([
      ['local build', 'not built'],
      ['local build', 'not built'],
      [`${cpu}-cuda`, undefined],
      [cpu, undefined],
    ]);
    expect(list[2]!.file).toBe(path.join(path.dirname(root), `${cpu}-cuda`, 'p2sam.node'));
  });

  it('a platform package of another version or without its addon is marked, not used', () => {
    const root = lay({ 'p2sam-native': '1.2.3', [cpu]: '1.2.4' });
    const [, , pkg] = addonCandidates(root, { P2SAM_VARIANT: 'cpu' });
    expect(pkg!.problem).toBe('version 1.2.4, but p2sam-native is 1.2.3');
    const missing = addonCandidates(lay({ 'p2sam-native': '1.2.3' }), { P2SAM_VARIANT: 'cpu' })[2]!;
    expect(missing).toEqual({ file: cpu, source: cpu, problem: 'not installed' });
  });

  it('P2SAM_NATIVE_PATH is the only candidate when set', () => {
    const root = lay({ 'p2sam-native': '1.2.3', [cpu]: '1.2.3' });
    const list = addonCandidates(root, { P2SAM_NATIVE_PATH: '/nonexistent/app.asar/p2sam.node' });
    expect(list).toEqual([
      {
        file: '/nonexistent/app.asar.unpacked/p2sam.node',
        source: 'P2SAM_NATIVE_PATH',
        problem: 'no such file',
      },
    ]);
  });
});
