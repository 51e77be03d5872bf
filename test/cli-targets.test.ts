import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { expandTargets, naturalCompare, outputNames, safeOutputPath } from '../lib/cli/targets';
import { P2SamError } from '../lib/errors';

let root: string;
const p = (...parts: string[]): string => path.join(root, ...parts);
const touch = (...parts: string[]): void => {
  fs.mkdirSync(path.dirname(p(...parts)), { recursive: true });
  fs.writeFileSync(p(...parts), 'x');
};

beforeAll(() => {
  // realpath: on macOS os.tmpdir() is itself behind a symlink, which would make the
  // expected paths differ from the resolved ones.
  root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'p2sam-targets-')));
  for (const f of [
    'frame1.png',
    'frame2.png',
    'frame10.png',
    'frame02.png',
    'Frame3.JPG',
    'frame4.webp',
    'frame5.TIFF',
    'notes.txt',
    '.hidden.png',
    '._frame1.png',
  ]) {
    touch('frames', f);
  }
  touch('frames', 'sub', 'frame7.png');
  touch('frames', 'sub', 'deep', 'frame6.tif');
  touch('frames', 'sub', 'deep', 'readme.md');
  fs.mkdirSync(p('emptydir'));
  touch('other', 'a10.jpeg');
  touch('other', 'a9.jpeg');
  fs.mkdirSync(p('out'));
  fs.symlinkSync(p('other'), p('out', 'escape'));
  fs.symlinkSync(p('frames', 'frame1.png'), p('out', 'link-to-input.png'));
});
afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

async function expectCode(promise: Promise<unknown>, code: string, fragment: string): Promise<void> {
  const err = await promise.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(P2SamError);
  expect((err as P2SamError).code).toBe(code);
  expect((err as P2SamError).message).toContain(fragment);
}

describe('naturalCompare', () => {
  it('orders digit runs by value and letters case-insensitively', () => {
    const names = [
      'frame10.png',
      'frame2.png',
      'Frame3.png',
      'frame1.png',
      'frame02.png',
      'a',
      'frame1b.png',
      'x1000000000000000000001',
      'x999999999999999999999',
    ];
    expect([...names].sort(naturalCompare)).toEqual([
      'a',
      'frame1.png',
      'frame1b.png',
      'frame2.png',
      'frame02.png',
      'Frame3.png',
      'frame10.png',
      'x999999999999999999999',
      'x1000000000000000000001',
    ]);
    expect(naturalCompare('img_9', 'img_10')).toBeLessThan(0);
    expect(naturalCompare('slice-100', 'slice-20')).toBeGreaterThan(0);
    expect(naturalCompare('same', 'same')).toBe(0);
  });

  it('is a consistent total order (antisymmetric, transitive, 0 only for equal strings)', () => {
    const str = fc.string({ unit: fc.constantFrom('a', 'B', '0', '1', '9', '_', '.', 'z'), maxLength: 8 });
    fc.assert(
      fc.property(str, str, (a, b) => {
        const ab = Math.sign(naturalCompare(a, b));
        expect(ab).toBe(-Math.sign(naturalCompare(b, a)) || 0);
        expect(ab === 0).toBe(a === b);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(str, str, str, (a, b, c) => {
        const sorted = [a, b, c].sort(naturalCompare);
        expect(naturalCompare(sorted[0]!, sorted[2]!)).toBeLessThanOrEqual(0);
        expect(naturalCompare(sorted[0]!, sorted[1]!)).toBeLessThanOrEqual(0);
        expect(naturalCompare(sorted[1]!, sorted[2]!)).toBeLessThanOrEqual(0);
      }),
      { numRuns: 2000 },
    );
  });

  it('matches numeric order for name+number', () => {
    fc.assert(
      fc.property(fc.nat(1e9), fc.nat(1e9), (a, b) => {
        expect(Math.sign(naturalCompare(`f${a}.png`, `f${b}.png`))).toBe(Math.sign(a - b));
      }),
    );
  });
});

describe('expandTargets', () => {
  it('lists image files of a directory, naturally sorted, skipping hidden files, other types and subfolders', async () => {
    const got = await expandTargets([p('frames')]);
    expect(got.map((f) => path.basename(f))).toEqual([
      'frame1.png',
      'frame2.png',
      'frame02.png',
      'Frame3.JPG',
      'frame4.webp',
      'frame5.TIFF',
      'frame10.png',
    ]);
    expect(got[0]).toBe(path.join(p('frames'), 'frame1.png'));
  });

  it('keeps explicit files as given, whatever the extension', async () => {
    expect(await expandTargets([p('frames', 'notes.txt'), p('frames', 'frame10.png')])).toEqual([
      p('frames', 'notes.txt'),
      p('frames', 'frame10.png'),
    ]);
  });

  it('expands *, ? and ** globs', async () => {
    expect((await expandTargets([p('frames', 'frame?.png')])).map((f) => path.basename(f))).toEqual([
      'frame1.png',
      'frame2.png',
    ]);
    expect((await expandTargets([p('frames', '*.png')])).map((f) => path.basename(f))).toEqual([
      'frame1.png',
      'frame2.png',
      'frame02.png',
      'frame10.png',
    ]);
    // ** spans zero or more folders; results are sorted on the whole path.
    expect(await expandTargets([p('frames', '**', 'frame1*.png')])).toEqual([
      p('frames', 'frame1.png'),
      p('frames', 'frame10.png'),
    ]);
    expect(await expandTargets([p('frames', '**', '*.tif')])).toEqual([
      p('frames', 'sub', 'deep', 'frame6.tif'),
    ]);
    expect(await expandTargets([p('frames', '**', 'frame?.*')])).toContain(p('frames', 'sub', 'frame7.png'));
    // Pattern letters are case-sensitive (as in the shell); the extension filter is not.
    expect(await expandTargets([p('frames', '**', '*.TIFF')])).toEqual([p('frames', 'frame5.TIFF')]);
    // Path segments compare naturally one by one: 'deep' sorts before 'frame7.png'.
    expect(await expandTargets([p('frames', 'sub', '**')])).toEqual([
      p('frames', 'sub', 'deep', 'frame6.tif'),
      p('frames', 'sub', 'frame7.png'),
    ]);
    expect(await expandTargets([p('*', 'a*.jpeg')])).toEqual([p('other', 'a9.jpeg'), p('other', 'a10.jpeg')]);
    // Hidden files only when the pattern asks for them.
    expect(await expandTargets([p('frames', '.*.png')])).toEqual([
      p('frames', '._frame1.png'),
      p('frames', '.hidden.png'),
    ]);
  });

  it('expands relative patterns against the working directory and keeps them relative', async () => {
    const cwd = process.cwd();
    process.chdir(root);
    try {
      expect(await expandTargets(['other/*.jpeg', 'frames'])).toEqual([
        path.join('other', 'a9.jpeg'),
        path.join('other', 'a10.jpeg'),
        ...[
          'frame1.png',
          'frame2.png',
          'frame02.png',
          'Frame3.JPG',
          'frame4.webp',
          'frame5.TIFF',
          'frame10.png',
        ].map((f) => path.join('frames', f)),
      ]);
      expect(await expandTargets(['**/frame6.tif'])).toEqual([
        path.join('frames', 'sub', 'deep', 'frame6.tif'),
      ]);
    } finally {
      process.chdir(cwd);
    }
  });

  it('removes duplicates, keeping the first occurrence', async () => {
    const got = await expandTargets([
      p('frames', 'frame10.png'),
      p('frames', '*.png'),
      p('frames', '..', 'frames', 'frame2.png'),
    ]);
    expect(got.map((f) => path.basename(f))).toEqual([
      'frame10.png',
      'frame1.png',
      'frame2.png',
      'frame02.png',
    ]);
  });

  it('honours custom extensions', async () => {
    expect(
      (await expandTargets([p('frames')], { extensions: ['txt', '.PNG'] })).map((f) => path.basename(f)),
    ).toEqual(['frame1.png', 'frame2.png', 'frame02.png', 'frame10.png', 'notes.txt']);
    await expect(expandTargets([p('frames')], { extensions: [] })).rejects.toThrow(/options\.extensions/);
  });

  it('names the argument that matches nothing', async () => {
    await expectCode(expandTargets([p('frames'), p('missing.png')]), 'TARGET_NOT_FOUND', 'missing.png');
    await expectCode(expandTargets([p('frames', '*.gif')]), 'TARGET_NOT_FOUND', '*.gif');
    await expectCode(expandTargets([p('nodir', '*.png')]), 'TARGET_NOT_FOUND', 'nodir');
    await expectCode(expandTargets([p('emptydir')]), 'TARGET_NOT_FOUND', 'no image files');
    await expect(expandTargets([''])).rejects.toThrow(/args\[0\]/);
  });
});

describe('safeOutputPath', () => {
  const inputs = (): string[] => [p('frames', 'frame1.png'), p('frames', 'frame2.png')];

  it('returns the absolute path inside the output folder', () => {
    expect(safeOutputPath(p('out'), 'frame1_mask.png', inputs())).toBe(p('out', 'frame1_mask.png'));
    expect(safeOutputPath(p('out'), 'sub/x.png', inputs())).toBe(p('out', 'sub', 'x.png'));
    expect(safeOutputPath(p('not-yet', 'made'), 'x.png')).toBe(p('not-yet', 'made', 'x.png'));
  });

  it('refuses names escaping the folder', () => {
    for (const bad of ['../x.png', 'a/../../x.png', p('elsewhere.png'), '.']) {
      expect(() => safeOutputPath(p('out'), bad)).toThrow(P2SamError);
      try {
        safeOutputPath(p('out'), bad);
      } catch (e) {
        expect((e as P2SamError).code).toBe('OUTPUT_PATH_REFUSED');
      }
    }
  });

  it('refuses writing through a symlink that leaves the folder', () => {
    expect(() => safeOutputPath(p('out'), 'escape/new.png')).toThrow(/outside the output directory/);
  });

  it('refuses overwriting an input, however it is spelled', () => {
    expect(() => safeOutputPath(p('frames'), 'frame1.png', inputs())).toThrow(/would overwrite the input/);
    expect(() => safeOutputPath(p('frames', 'sub'), '../frame2.png', inputs())).toThrow(
      /outside the output directory/,
    );
    // The output file exists as a symlink to an input: writing would clobber the input.
    expect(() => safeOutputPath(p('out'), 'link-to-input.png', inputs())).toThrow(
      /would overwrite the input/,
    );
    const cwd = process.cwd();
    process.chdir(root);
    try {
      expect(() => safeOutputPath('frames', 'frame2.png', ['./frames/../frames/frame2.png'])).toThrow(
        /would overwrite the input/,
      );
    } finally {
      process.chdir(cwd);
    }
  });

  it('validates its arguments', () => {
    expect(() => safeOutputPath('', 'x.png')).toThrow(/outDir/);
    expect(() => safeOutputPath(p('out'), '')).toThrow(/name/);
    expect(() => safeOutputPath(p('out'), 'a\0b.png')).toThrow(/NUL/);
  });
});

describe('outputNames', () => {
  it('uses the base name without extension when names are unique', () => {
    expect(outputNames(['a/frame1.png', 'a/frame2.jpg', 'b/scan.tiff'])).toEqual([
      'frame1',
      'frame2',
      'scan',
    ]);
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
    expect(outputNames(['/d/a/x.png', '/d/a/x.jpg', '/d/b/x.png'])).toEqual([
      'a__x_png',
      'a__x_jpg',
      'b__x_png',
    ]);
  });
});
