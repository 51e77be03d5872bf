/**
 * lib/io/image.ts and lib/io/overlay.ts: reading images and masks of every supported
 * kind, writing PNGs and overlays.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { readImage, readMask, writeImagePng, writeMaskPng } from '../lib/io/image';
import { renderOverlay, writeOverlayPng } from '../lib/io/overlay';
import { P2SamError } from '../lib/errors';
import type { ImageData, MaskData } from '../lib/types';
import { SHARED_DATA as DATA } from './helpers';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'p2sam-io-image-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});
const tmp = (name: string): string => path.join(dir, name);

/** A deterministic RGB test pattern where every channel varies independently. */
function pattern(w: number, h: number, channels: 1 | 3 | 4): ImageData {
  const data = new Uint8Array(w * h * channels);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < channels; c++) data[(y * w + x) * channels + c] = (x * 7 + y * 13 + c * 61) & 255;
    }
  }
  return { data, width: w, height: h, channels };
}

/** Two flat blocks (left red, right blue) survive JPEG compression well. */
function blocks(w: number, h: number): Uint8Array {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      if (x < w / 2) data[o] = 230;
      else data[o + 2] = 230;
    }
  }
  return data;
}

async function expectP2SamError(
  p: Promise<unknown>,
  code: string,
  ...fragments: string[]
): Promise<P2SamError> {
  const err = await p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(P2SamError);
  const e = err as P2SamError;
  expect(e.code).toBe(code);
  for (const f of fragments) expect(e.message).toContain(f);
  return e;
}

describe('readImage / writeImagePng', () => {
  it('round-trips RGB, grey and RGBA PNGs (alpha dropped, colour kept under transparency)', async () => {
    const rgb = pattern(37, 23, 3);
    await writeImagePng(tmp('rgb.png'), rgb);
    const back = await readImage(tmp('rgb.png'));
    expect(back.channels).toBe(3);
    expect([back.width, back.height]).toEqual([37, 23]);
    expect(Buffer.from(back.data).equals(Buffer.from(rgb.data))).toBe(true);

    const grey = pattern(31, 17, 1);
    await writeImagePng(tmp('grey.png'), grey);
    expect((await sharp(tmp('grey.png')).metadata()).channels).toBe(1);
    const g = await readImage(tmp('grey.png'));
    expect(g.channels).toBe(1);
    expect(Buffer.from(g.data).equals(Buffer.from(grey.data))).toBe(true);

    const rgba = pattern(19, 11, 4);
    for (let i = 3; i < rgba.data.length; i += 8) rgba.data[i] = 0; // every other pixel transparent
    await writeImagePng(tmp('rgba.png'), rgba);
    const a = await readImage(tmp('rgba.png'));
    expect(a.channels).toBe(3);
    for (let p = 0; p < 19 * 11; p++) {
      expect([a.data[p * 3], a.data[p * 3 + 1], a.data[p * 3 + 2]]).toEqual([
        rgba.data[p * 4],
        rgba.data[p * 4 + 1],
        rgba.data[p * 4 + 2],
      ]);
    }
  });

  it('reads lossless TIFF and WebP exactly, JPEG approximately', async () => {
    const img = pattern(40, 24, 3);
    const raw = { raw: { width: 40, height: 24, channels: 3 as const } };
    // sharp's TIFF writer defaults to JPEG compression; LZW keeps it lossless.
    await sharp(img.data, raw).tiff({ compression: 'lzw' }).toFile(tmp('a.tif'));
    await sharp(img.data, raw).webp({ lossless: true }).toFile(tmp('a.webp'));
    for (const f of ['a.tif', 'a.webp']) {
      const back = await readImage(tmp(f));
      expect(back.channels).toBe(3);
      expect(Buffer.from(back.data).equals(Buffer.from(img.data))).toBe(true);
    }
    const b = blocks(64, 32);
    await sharp(b, { raw: { width: 64, height: 32, channels: 3 } })
      .jpeg({ quality: 95 })
      .toFile(tmp('a.jpg'));
    const j = await readImage(tmp('a.jpg'));
    expect([j.width, j.height, j.channels]).toEqual([64, 32, 3]);
    let maxErr = 0;
    // Skip the 8-px band around the colour edge where JPEG rings.
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 64; x++) {
        if (Math.abs(x - 32) < 8) continue;
        for (let c = 0; c < 3; c++)
          maxErr = Math.max(maxErr, Math.abs(j.data[(y * 64 + x) * 3 + c]! - b[(y * 64 + x) * 3 + c]!));
      }
    }
    expect(maxErr).toBeLessThan(12);
  });

  it('accepts encoded bytes as a Buffer or Uint8Array', async () => {
    const img = pattern(9, 5, 3);
    const png = await sharp(img.data, { raw: { width: 9, height: 5, channels: 3 } })
      .png()
      .toBuffer();
    const fromBuf = await readImage(png);
    const fromU8 = await readImage(new Uint8Array(png));
    expect(Buffer.from(fromBuf.data).equals(Buffer.from(img.data))).toBe(true);
    expect(Buffer.from(fromU8.data).equals(Buffer.from(img.data))).toBe(true);
  });

  it('applies the EXIF orientation (JPEG tagged "rotate 90° CW")', async () => {
    // Stored 64 wide × 32 high, red on the left, blue on the right. Orientation 6 means
    // the viewer rotates 90° clockwise, so the upright image is 32 × 64 with red on top.
    await sharp(blocks(64, 32), { raw: { width: 64, height: 32, channels: 3 } })
      .jpeg({ quality: 95 })
      .withMetadata({ orientation: 6 })
      .toFile(tmp('exif6.jpg'));
    expect((await sharp(tmp('exif6.jpg')).metadata()).orientation).toBe(6);
    const img = await readImage(tmp('exif6.jpg'));
    expect([img.width, img.height]).toEqual([32, 64]);
    const at = (x: number, y: number): number[] =>
      Array.from(img.data.subarray((y * 32 + x) * 3, (y * 32 + x) * 3 + 3));
    const top = at(16, 8);
    const bottom = at(16, 56);
    expect(top[0]!).toBeGreaterThan(200);
    expect(top[2]!).toBeLessThan(40);
    expect(bottom[2]!).toBeGreaterThan(200);
    expect(bottom[0]!).toBeLessThan(40);

    // Masks are turned the same way, so they stay aligned with their images.
    const m = new Uint8Array(64 * 32);
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) m[y * 64 + x] = 255; // left half
    await sharp(m, { raw: { width: 64, height: 32, channels: 1 } })
      .toColourspace('b-w')
      .jpeg({ quality: 100 })
      .withMetadata({ orientation: 6 })
      .toFile(tmp('exif6-mask.jpg'));
    const mask = await readMask(tmp('exif6-mask.jpg'), { width: 32, height: 64 });
    expect(mask.data[8 * 32 + 16]).toBe(1);
    expect(mask.data[56 * 32 + 16]).toBe(0);
  });

  it('scales 16-bit PNG and TIFF to 8 bits (full range, and CT windowing)', async () => {
    const values = [0, 128, 129, 257, 1000, 1500, 2000, 32768, 65279, 65535, 3000, 40000];
    const u16 = new Uint16Array(values);
    await sharp(u16, { raw: { width: 4, height: 3, channels: 1 } })
      .toColourspace('grey16')
      .png()
      .toFile(tmp('g16.png'));
    await sharp(u16, { raw: { width: 4, height: 3, channels: 1 } })
      .toColourspace('grey16')
      .tiff({ compression: 'lzw' })
      .toFile(tmp('g16.tif'));
    for (const f of ['g16.png', 'g16.tif']) {
      expect((await sharp(tmp(f)).metadata()).depth).toBe('ushort');
      const img = await readImage(tmp(f));
      expect(img.channels).toBe(1);
      expect(Array.from(img.data)).toEqual(values.map((v) => Math.round(v / 257)));
      const win = await readImage(tmp(f), { window: [1000, 2000] });
      expect(Array.from(win.data)).toEqual(
        values.map((v) => Math.min(255, Math.max(0, Math.round(((v - 1000) * 255) / 1000)))),
      );
      // The window's ends land exactly on 0 and 255.
      expect(win.data[4]).toBe(0);
      expect(win.data[6]).toBe(255);
      expect(win.data[5]).toBe(128);
    }
    const rgb16 = new Uint16Array(2 * 2 * 3);
    for (let i = 0; i < rgb16.length; i++) rgb16[i] = i * 5000;
    await sharp(rgb16, { raw: { width: 2, height: 2, channels: 3 } })
      .toColourspace('rgb16')
      .png()
      .toFile(tmp('rgb16.png'));
    const c = await readImage(tmp('rgb16.png'));
    expect(c.channels).toBe(3);
    expect(Array.from(c.data)).toEqual(Array.from(rgb16, (v) => Math.round(v / 257)));
  });

  it('applies a window to 8-bit images too', async () => {
    const g = {
      data: new Uint8Array([0, 50, 100, 150, 200, 255]),
      width: 3,
      height: 2,
      channels: 1 as const,
    };
    await writeImagePng(tmp('w8.png'), g);
    const w = await readImage(tmp('w8.png'), { window: [50, 150] });
    expect(Array.from(w.data)).toEqual([0, 0, 128, 255, 255, 255]);
  });

  it('expands palette PNGs to RGB', async () => {
    const img = new Uint8Array(8 * 4 * 3);
    for (let p = 0; p < 32; p++) {
      const col = p % 3 === 0 ? [255, 0, 0] : p % 3 === 1 ? [0, 128, 0] : [0, 0, 0];
      img.set(col, p * 3);
    }
    await sharp(img, { raw: { width: 8, height: 4, channels: 3 } })
      .png({ palette: true, dither: 0 })
      .toFile(tmp('pal.png'));
    expect((await sharp(tmp('pal.png')).metadata()).isPalette).toBe(true);
    const back = await readImage(tmp('pal.png'));
    expect(back.channels).toBe(3);
    expect(Buffer.from(back.data).equals(Buffer.from(img))).toBe(true);
  });

  it('rejects bad options with errors naming the option', async () => {
    await writeImagePng(tmp('small.png'), pattern(4, 4, 3));
    await expect(readImage(tmp('small.png'), { window: [10, 10] })).rejects.toThrow(
      /options\.window.*lo < hi/,
    );
    await expect(
      readImage(tmp('small.png'), { window: [0, Number.NaN] as [number, number] }),
    ).rejects.toThrow(/options\.window/);
    await expect(readImage(tmp('small.png'), { window: [1] as unknown as [number, number] })).rejects.toThrow(
      /options\.window/,
    );
    await expect(readImage('' as string)).rejects.toThrow(TypeError);
    await expect(readImage(Buffer.alloc(0))).rejects.toThrow(/empty buffer/);
    await expect(readImage(42 as unknown as string)).rejects.toThrow(/src: expected a file path/);
  });
});

describe('read failures are IMAGE_READ_FAILED naming the path and the reason', () => {
  it('missing file, directory, empty file, not an image', async () => {
    await expectP2SamError(
      readImage(tmp('nope.png')),
      'IMAGE_READ_FAILED',
      tmp('nope.png'),
      'does not exist',
    );
    await expectP2SamError(readImage(dir), 'IMAGE_READ_FAILED', 'not a regular file');
    fs.writeFileSync(tmp('empty.png'), '');
    await expectP2SamError(readImage(tmp('empty.png')), 'IMAGE_READ_FAILED', 'empty.png', 'empty');
    fs.writeFileSync(tmp('text.png'), 'this is not an image at all');
    await expectP2SamError(
      readImage(tmp('text.png')),
      'IMAGE_READ_FAILED',
      'text.png',
      'unsupported image format',
    );
    await expectP2SamError(readMask(tmp('text.png')), 'IMAGE_READ_FAILED', 'text.png');
    await expectP2SamError(
      readImage(Buffer.from('garbage bytes')),
      'IMAGE_READ_FAILED',
      'buffer of 13 bytes',
    );
  });

  it('truncated PNG and JPEG, corrupted JPEG data', async () => {
    const img = pattern(64, 64, 3);
    const raw = { raw: { width: 64, height: 64, channels: 3 as const } };
    const png = await sharp(img.data, raw).png().toBuffer();
    fs.writeFileSync(tmp('trunc.png'), png.subarray(0, Math.floor(png.length / 2)));
    await expectP2SamError(readImage(tmp('trunc.png')), 'IMAGE_READ_FAILED', 'trunc.png');
    const jpg = await sharp(img.data, raw).jpeg({ quality: 90 }).toBuffer();
    fs.writeFileSync(tmp('trunc.jpg'), jpg.subarray(0, Math.floor(jpg.length / 2)));
    await expectP2SamError(readImage(tmp('trunc.jpg')), 'IMAGE_READ_FAILED', 'trunc.jpg', 'JPEG');
    // Damage the entropy-coded data but keep headers and the end marker intact.
    const bad = Buffer.from(jpg);
    for (let i = 700; i < bad.length - 10; i += 97) bad[i] = 0xff;
    fs.writeFileSync(tmp('corrupt.jpg'), bad);
    await expectP2SamError(readImage(tmp('corrupt.jpg')), 'IMAGE_READ_FAILED', 'corrupt.jpg');
  });
});

describe('readMask / writeMaskPng', () => {
  const w = 6;
  const h = 4;
  const bits = Array.from({ length: w * h }, (_, i) => ((i * 5) % 7 < 3 ? 1 : 0));

  it('treats any non-zero value as foreground: 0/1, 0/255, 16-bit, coloured', async () => {
    for (const [name, scaleV] of [
      ['m01.png', 1],
      ['m255.png', 255],
    ] as const) {
      await sharp(new Uint8Array(bits.map((b) => b * scaleV)), { raw: { width: w, height: h, channels: 1 } })
        .toColourspace('b-w')
        .png()
        .toFile(tmp(name));
      const m = await readMask(tmp(name));
      expect([m.width, m.height]).toEqual([w, h]);
      expect(Array.from(m.data)).toEqual(bits);
    }
    // A 16-bit mask holding label 1: converting to 8 bits first would lose it.
    await sharp(new Uint16Array(bits), { raw: { width: w, height: h, channels: 1 } })
      .toColourspace('grey16')
      .png()
      .toFile(tmp('m16.png'));
    expect(Array.from((await readMask(tmp('m16.png'))).data)).toEqual(bits);
    // Colour mask where foreground is pure green (red and blue bands are 0).
    const rgb = new Uint8Array(w * h * 3);
    bits.forEach((b, i) => {
      rgb[i * 3 + 1] = b * 200;
    });
    await sharp(rgb, { raw: { width: w, height: h, channels: 3 } })
      .png()
      .toFile(tmp('mgreen.png'));
    expect(Array.from((await readMask(tmp('mgreen.png'))).data)).toEqual(bits);
  });

  it('reads palette masks (index 0 black, index 1 coloured)', async () => {
    const rgb = new Uint8Array(w * h * 3);
    bits.forEach((b, i) => {
      rgb[i * 3] = b * 128;
    });
    await sharp(rgb, { raw: { width: w, height: h, channels: 3 } })
      .png({ palette: true, colours: 2, dither: 0 })
      .toFile(tmp('mpal.png'));
    expect((await sharp(tmp('mpal.png')).metadata()).isPalette).toBe(true);
    expect(Array.from((await readMask(tmp('mpal.png'))).data)).toEqual(bits);
  });

  it('uses alpha: transparent pixels are background; an alpha-only mask works', async () => {
    // White everywhere, object marked by alpha 255.
    const rgba = new Uint8Array(w * h * 4).fill(255);
    bits.forEach((b, i) => {
      rgba[i * 4 + 3] = b * 255;
    });
    await sharp(rgba, { raw: { width: w, height: h, channels: 4 } })
      .png()
      .toFile(tmp('malpha-white.png'));
    expect(Array.from((await readMask(tmp('malpha-white.png'))).data)).toEqual(bits);
    // Black everywhere, object marked by alpha only.
    const black = new Uint8Array(w * h * 4);
    bits.forEach((b, i) => {
      black[i * 4 + 3] = b * 255;
    });
    await sharp(black, { raw: { width: w, height: h, channels: 4 } })
      .png()
      .toFile(tmp('malpha-black.png'));
    expect(Array.from((await readMask(tmp('malpha-black.png'))).data)).toEqual(bits);
  });

  it('reports a size mismatch with both sizes', async () => {
    const e = await expectP2SamError(
      readMask(tmp('m01.png'), { width: 512, height: 512 }),
      'MASK_SIZE_MISMATCH',
      '6×4',
      '512×512',
    );
    expect(e.message).toContain('mask 6×4 does not match image 512×512');
    await expect(readMask(tmp('m01.png'), { width: 0, height: 4 })).rejects.toThrow(
      /expected: expected \{ width, height \}/,
    );
  });

  it('writes a 1-channel PNG with 0/255 and reads it back', async () => {
    const mask: MaskData = {
      data: new Uint8Array(bits.map((b, i) => (b ? 1 + (i % 3) : 0))),
      width: w,
      height: h,
    };
    await writeMaskPng(tmp('out/nested/mask.png'), mask);
    const meta = await sharp(tmp('out/nested/mask.png')).metadata();
    expect(meta.channels).toBe(1);
    expect(meta.format).toBe('png');
    const raw = await sharp(tmp('out/nested/mask.png')).toColourspace('b-w').raw().toBuffer();
    expect(Array.from(raw)).toEqual(bits.map((b) => b * 255));
    expect(Array.from((await readMask(tmp('out/nested/mask.png'))).data)).toEqual(bits);
  });

  it('rejects malformed MaskData/ImageData naming the parameter', async () => {
    await expect(
      writeMaskPng(tmp('x.png'), { data: new Uint8Array(5), width: 2, height: 2 }),
    ).rejects.toThrow(/mask\.data: expected 2×2 = 4 bytes, received 5/);
    await expect(
      writeImagePng(tmp('x.png'), { data: new Uint8Array(12), width: 2, height: 2, channels: 2 as 3 }),
    ).rejects.toThrow(/image\.channels/);
    await expect(
      writeImagePng(tmp('x.png'), { data: new Uint8Array(11), width: 2, height: 2, channels: 3 }),
    ).rejects.toThrow(/image\.data/);
  });
});

describe('renderOverlay', () => {
  const W = 200;
  const H = 100;
  const grey: ImageData = { data: new Uint8Array(W * H).fill(100), width: W, height: H, channels: 1 };
  const mask: MaskData = { data: new Uint8Array(W * H), width: W, height: H };
  for (let y = 20; y < 60; y++) for (let x = 30; x < 90; x++) mask.data[y * W + x] = 1;
  const px = (img: ImageData, x: number, y: number): number[] =>
    Array.from(img.data.subarray((y * W + x) * 3, (y * W + x) * 3 + 3));

  it('tints the interior, outlines the boundary, leaves the rest alone', () => {
    const out = renderOverlay(grey, mask, [], {
      color: [0, 0, 255],
      alpha: 0.5,
      contourColor: [255, 255, 0],
    });
    expect(out.channels).toBe(3);
    expect(px(out, 50, 40)).toEqual([50, 50, 178]); // 100·0.5 + 255·0.5 = 177.5 → 178
    expect(px(out, 30, 40)).toEqual([255, 255, 0]); // left edge
    expect(px(out, 89, 59)).toEqual([255, 255, 0]); // bottom-right corner
    expect(px(out, 29, 40)).toEqual([100, 100, 100]); // just outside
    expect(px(out, 150, 80)).toEqual([100, 100, 100]);
    expect(grey.data.every((v) => v === 100)).toBe(true); // input untouched
  });

  it('draws positives as green dots with a dark rim and negatives as red crosses', () => {
    const out = renderOverlay(
      grey,
      mask,
      [
        { x: 150, y: 50, label: 1 },
        { x: 170, y: 20, label: 0 },
      ],
      { pointRadius: 6 },
    );
    const c = px(out, 150, 50);
    expect(c[1]!).toBeGreaterThan(180);
    expect(c[0]!).toBeLessThan(100);
    const rim = px(out, 150 + 7, 50); // just beyond the radius
    expect(Math.max(...rim)).toBeLessThan(40);
    expect(px(out, 150 + 10, 50)).toEqual([100, 100, 100]);
    // The cross: red on the diagonals, untouched on the axes away from the centre.
    expect(px(out, 170 + 4, 20 + 4)[0]!).toBeGreaterThan(200);
    expect(px(out, 170 - 4, 20 + 4)[0]!).toBeGreaterThan(200);
    expect(px(out, 170, 20 - 6)).toEqual([100, 100, 100]);
  });

  it('clips points at the border, scales the default radius, rejects bad input', () => {
    expect(() =>
      renderOverlay(grey, mask, [
        { x: -3, y: 0, label: 1 },
        { x: 1e9, y: 5, label: 0 },
      ]),
    ).not.toThrow();
    const big: ImageData = { data: new Uint8Array(1000 * 800 * 3), width: 1000, height: 800, channels: 3 };
    const bigMask: MaskData = { data: new Uint8Array(1000 * 800), width: 1000, height: 800 };
    const o = renderOverlay(big, bigMask, [{ x: 500, y: 400, label: 1 }]);
    // Default radius = 1% of 800 = 8 px: green 7 px away, untouched 12 px away.
    expect(o.data[(400 * 1000 + 507) * 3 + 1]!).toBeGreaterThan(180);
    expect(o.data[(400 * 1000 + 512) * 3 + 1]).toBe(0);
    expect(() => renderOverlay(grey, { data: new Uint8Array(4), width: 2, height: 2 }, [])).toThrow(
      /mask 2×2 does not match image 200×100/,
    );
    expect(() => renderOverlay(grey, mask, [{ x: Number.NaN, y: 1, label: 1 }])).toThrow(/points\[0\]/);
    expect(() => renderOverlay(grey, mask, [], { alpha: 2 })).toThrow(/options\.alpha/);
  });

  it('writes an RGB PNG', async () => {
    await writeOverlayPng(tmp('overlay.png'), grey, mask, [{ x: 10, y: 10, label: 1 }]);
    const meta = await sharp(tmp('overlay.png')).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([W, H, 3]);
  });
});

// The real samples live beside the repository (../shared/data); users of the package
// will not have them, so these tests skip with a visible note when they are absent.
const haveData =
  fs.existsSync(path.join(DATA, 'perseg-examples')) && fs.existsSync(path.join(DATA, 'ct-slices'));
if (!haveData) console.warn(`[io-image.test] sample data not found at ${DATA}; real-data tests are skipped`);

describe('real sample data', () => {
  it.skipIf(!haveData)(
    'reads every PerSeg photo with its palette mask (same size, non-trivial mask)',
    async () => {
      const dirP = path.join(DATA, 'perseg-examples');
      const jpgs = fs.readdirSync(dirP).filter((f) => f.endsWith('.jpg'));
      expect(jpgs.length).toBeGreaterThan(0);
      for (const f of jpgs) {
        const img = await readImage(path.join(dirP, f));
        expect(img.channels).toBe(3);
        const m = await readMask(path.join(dirP, f.replace(/\.jpg$/, '.png')), img);
        const fg = m.data.reduce((a, v) => a + v, 0) / m.data.length;
        expect(fg).toBeGreaterThan(0.01);
        expect(fg).toBeLessThan(0.9);
        expect(m.data.every((v) => v === 0 || v === 1)).toBe(true);
      }
    },
  );

  it.skipIf(!haveData)('reads the CT slices as 1-channel 512×512 with 0/255 tumour masks', async () => {
    const ct = path.join(DATA, 'ct-slices');
    for (const which of ['ref', 'target']) {
      const img = await readImage(path.join(ct, `${which}_image.png`));
      expect([img.width, img.height, img.channels]).toEqual([512, 512, 1]);
      const m = await readMask(path.join(ct, `${which}_mask.png`), img);
      const fg = m.data.reduce((a, v) => a + v, 0);
      expect(fg).toBeGreaterThan(0);
      expect(fg).toBeLessThan(512 * 512 * 0.2);
      // The tumour is brighter than the lung around it on average: a sanity check that
      // mask and image are aligned (not transposed / flipped relative to each other).
      let inside = 0;
      let total = 0;
      for (let i = 0; i < m.data.length; i++) {
        if (m.data[i]) inside += img.data[i]!;
        total += img.data[i]!;
      }
      expect(inside / fg).toBeGreaterThan(total / m.data.length);
    }
  });
});
