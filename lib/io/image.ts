/**
 * Reading and writing images and masks with sharp (libvips).
 *
 * Everything leaves this module in the package's own layouts (`ImageData` interleaved
 * HWC 8-bit, `MaskData` one 0/1 byte per pixel), already turned upright according to
 * the EXIF orientation tag, so the rest of the pipeline never sees encoder quirks.
 *
 * Reading validates and snapshots the arguments here, then decodes on the helper
 * thread (lib/worker/offload.ts, lib/io/image-decode.ts): the per-sample loops of a
 * large image must not run on the caller's event loop.
 *
 * Writing: a 1-channel raw buffer is written as RGB by sharp unless the output is
 * `toColourspace('b-w')`.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import type { ImageData, MaskData } from '../types';
import { offload } from '../worker/offload';
import { writeFileAtomic } from './atomic-file';
import type { DecodedImage, DecodedMask, ImageSource } from './image-decode';

export type { ImageSource };

export interface ReadImageOptions {
  /**
   * Intensity window `[lo, hi]` in the file's own sample units (0..65535 for 16-bit,
   * 0..255 for 8-bit): `lo` maps to 0, `hi` to 255, values outside are clipped. This is
   * CT windowing, e.g. `[0, 4095]` for 12-bit data stored in 16-bit PNGs. Without it,
   * 16-bit data is scaled over the full range (value / 257) and 8-bit data is untouched.
   */
  window?: [number, number];
}

function checkSource(src: unknown, param: string): asserts src is ImageSource {
  if (typeof src === 'string') {
    if (src.length === 0)
      throw new TypeError(`${param}: expected a file path or a Buffer, received an empty string`);
    return;
  }
  if (src instanceof Uint8Array) {
    if (src.byteLength === 0)
      throw new TypeError(`${param}: expected a file path or a Buffer, received an empty buffer`);
    return;
  }
  throw new TypeError(
    `${param}: expected a file path (string) or a Buffer, received ${src === null ? 'null' : typeof src}`,
  );
}

function checkWindow(win: unknown): asserts win is [number, number] {
  if (!Array.isArray(win) || win.length !== 2) {
    throw new TypeError(
      `options.window: expected [lo, hi] (two numbers), received ${Array.isArray(win) ? `an array of length ${win.length}` : typeof win}`,
    );
  }
  const [lo, hi] = win as unknown[];
  if (typeof lo !== 'number' || typeof hi !== 'number' || !Number.isFinite(lo) || !Number.isFinite(hi)) {
    throw new TypeError(
      `options.window: expected two finite numbers, received [${String(lo)}, ${String(hi)}]`,
    );
  }
  if (!(hi > lo)) {
    throw new RangeError(`options.window: expected lo < hi, received [${lo}, ${hi}]`);
  }
}

/**
 * Reads an image file (PNG, JPEG, TIFF, WebP, or anything else libvips decodes) or
 * encoded bytes into 8-bit interleaved pixels, upright per EXIF orientation.
 * Greyscale stays 1 channel; colour (including palette and CMYK) becomes 3-channel
 * sRGB; alpha is dropped (not composited). 16-bit samples are scaled to 8 bits.
 *
 * @throws P2SamError `IMAGE_READ_FAILED` when the file is missing, not an image,
 *   truncated or corrupt, or uses an unsupported sample format.
 * @example
 * ```ts
 * const image = await readImage('scan-001.png'); // { data, width, height, channels }
 * ```
 */
export async function readImage(src: ImageSource, opts: ReadImageOptions = {}): Promise<ImageData> {
  const { data, width, height, channels } = await readImageInfo(src, opts);
  return { data, width, height, channels };
}

/** @internal readImage plus the file's bit depth and largest sample, for the CLI's input checks (see DecodedImage). */
export async function readImageInfo(src: ImageSource, opts: ReadImageOptions = {}): Promise<DecodedImage> {
  checkSource(src, 'src');
  if (opts === null || typeof opts !== 'object') {
    throw new TypeError(`options: expected an object, received ${opts === null ? 'null' : typeof opts}`);
  }
  // Every input is read once, here: the window is copied before it is checked (a getter
  // or Proxy cannot show the check one value and the decoder another), and the bytes are
  // copied so the caller may reuse its buffer as soon as this returns — the decoding
  // happens later, on the helper thread.
  const win: unknown = opts.window;
  const window = win === undefined ? undefined : Array.isArray(win) ? [...(win as unknown[])] : win;
  if (window !== undefined) checkWindow(window);
  const source = typeof src === 'string' ? src : new Uint8Array(src);
  return offload(
    'readImage',
    { src: source, window },
    typeof source === 'string' ? [] : [source.buffer as ArrayBuffer],
  );
}

/**
 * Reads a binary mask. A pixel is foreground when any colour band is non-zero, so
 * 0/1, 0/255, palette PNGs (index 0 = black background) and coloured masks all work;
 * 16-bit masks are tested at full precision (a value of 1 counts).
 *
 * Alpha: a transparent pixel (alpha 0) is background, whatever its colour. If every
 * colour band is zero everywhere but alpha varies, the alpha band alone is the mask
 * (cut-out PNGs drawn as "opaque = object").
 *
 * @param expected when given, the mask must have exactly this size (the image's).
 * @throws P2SamError `IMAGE_READ_FAILED` (unreadable), `MASK_SIZE_MISMATCH` (size differs
 *   from `expected`).
 * @example
 * ```ts
 * const mask = await readMask('scan-001.mask.png', { width: image.width, height: image.height });
 * ```
 */
export async function readMask(
  src: ImageSource,
  expected?: { width: number; height: number },
): Promise<MaskData> {
  const { data, width, height } = await readMaskInfo(src, expected);
  return { data, width, height };
}

/**
 * @internal readMask plus how many distinct values the file held (`levels`), for the
 * CLI's check that a mask is one (see DecodedMask).
 */
export async function readMaskInfo(
  src: ImageSource,
  expected?: { width: number; height: number },
): Promise<DecodedMask> {
  checkSource(src, 'src');
  let size: { width: number; height: number } | undefined;
  if (expected !== undefined) {
    size =
      expected === null || typeof expected !== 'object'
        ? undefined
        : { width: expected.width, height: expected.height };
    if (!size || !isPositiveInt(size.width) || !isPositiveInt(size.height)) {
      throw new TypeError(
        `expected: expected { width, height } with positive integers, received ${JSON.stringify(expected)}`,
      );
    }
  }
  const source = typeof src === 'string' ? src : new Uint8Array(src);
  return offload(
    'readMask',
    { src: source, expected: size },
    typeof source === 'string' ? [] : [source.buffer as ArrayBuffer],
  );
}

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

/** Throws a TypeError/RangeError naming `param` unless `img` is a well-formed ImageData. */
export function checkImageData(img: unknown, param: string): asserts img is ImageData {
  if (img === null || typeof img !== 'object') {
    throw new TypeError(
      `${param}: expected an ImageData object, received ${img === null ? 'null' : typeof img}`,
    );
  }
  const { data, width, height, channels } = img as Partial<ImageData>;
  if (!isPositiveInt(width) || !isPositiveInt(height)) {
    throw new RangeError(
      `${param}: expected positive integer width and height, received ${String(width)}×${String(height)}`,
    );
  }
  if (channels !== 1 && channels !== 3 && channels !== 4) {
    throw new RangeError(`${param}.channels: expected 1, 3 or 4, received ${String(channels)}`);
  }
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
    throw new TypeError(`${param}.data: expected a Uint8Array or Uint8ClampedArray`);
  }
  if (data.length !== width * height * channels) {
    throw new RangeError(
      `${param}.data: expected ${width}×${height}×${channels} = ${width * height * channels} bytes, received ${data.length}`,
    );
  }
}

/** Throws a TypeError/RangeError naming `param` unless `mask` is a well-formed MaskData. */
export function checkMaskData(mask: unknown, param: string): asserts mask is MaskData {
  if (mask === null || typeof mask !== 'object') {
    throw new TypeError(
      `${param}: expected a MaskData object, received ${mask === null ? 'null' : typeof mask}`,
    );
  }
  const { data, width, height } = mask as Partial<MaskData>;
  if (!isPositiveInt(width) || !isPositiveInt(height)) {
    throw new RangeError(
      `${param}: expected positive integer width and height, received ${String(width)}×${String(height)}`,
    );
  }
  if (!(data instanceof Uint8Array)) {
    throw new TypeError(`${param}.data: expected a Uint8Array`);
  }
  if (data.length !== width * height) {
    throw new RangeError(
      `${param}.data: expected ${width}×${height} = ${width * height} bytes, received ${data.length}`,
    );
  }
}

async function ensureParentDir(file: string): Promise<void> {
  await fsp.mkdir(path.dirname(path.resolve(file)), { recursive: true });
}

/**
 * Writes a mask as a 1-channel 8-bit PNG with values 0 and 255 (non-zero → 255),
 * creating the parent directory. The file appears complete or not at all, and a
 * symbolic link at `file` is replaced, never written through (lib/io/atomic-file.ts).
 *
 * @throws {TypeError | RangeError} an empty path or a malformed mask.
 * @example
 * ```ts
 * const r = await model.segment(target, { reference });
 * await writeMaskPng('out/target.mask.png', { data: r.mask, width: r.width, height: r.height });
 * ```
 */
export async function writeMaskPng(file: string, mask: MaskData): Promise<void> {
  if (typeof file !== 'string' || file.length === 0) throw new TypeError(`path: expected a non-empty string`);
  checkMaskData(mask, 'mask');
  const px = new Uint8Array(mask.data.length);
  for (let i = 0; i < px.length; i++) px[i] = mask.data[i] !== 0 ? 255 : 0;
  await ensureParentDir(file);
  const png = await sharp(px, { raw: { width: mask.width, height: mask.height, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
  await writeFileAtomic(file, png);
}

/**
 * Writes an ImageData as PNG keeping its channel count (grey, RGB or RGBA), creating
 * the parent directory; atomic and link-safe like writeMaskPng.
 *
 * @throws {TypeError | RangeError} an empty path or a malformed image.
 * @example
 * ```ts
 * await writeImagePng('out/overlay.png', renderOverlay(image, mask));
 * ```
 */
export async function writeImagePng(file: string, img: ImageData): Promise<void> {
  if (typeof file !== 'string' || file.length === 0) throw new TypeError(`path: expected a non-empty string`);
  checkImageData(img, 'image');
  const bytes =
    img.data instanceof Uint8Array
      ? img.data
      : new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.length);
  await ensureParentDir(file);
  let pipeline = sharp(bytes, { raw: { width: img.width, height: img.height, channels: img.channels } });
  if (img.channels === 1) pipeline = pipeline.toColourspace('b-w');
  await writeFileAtomic(file, await pipeline.png().toBuffer());
}
