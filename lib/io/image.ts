/**
 * Reading and writing images and masks with sharp (libvips).
 *
 * Everything leaves this module in the package's own layouts (`ImageData` interleaved
 * HWC 8-bit, `MaskData` one 0/1 byte per pixel), already turned upright according to
 * the EXIF orientation tag, so the rest of the pipeline never sees encoder quirks.
 *
 * sharp pitfalls handled here (see BUILD.md "Images"):
 * - `.raw()` output is converted to sRGB unless a colourspace is requested, so a grey
 *   PNG would come back as 3 identical channels and a 16-bit grey PNG as 8-bit RGB.
 *   Every read therefore names its colourspace explicitly (`b-w`/`grey16`/`srgb`/`rgb16`).
 * - A 1-channel raw buffer is written as RGB unless the output is `toColourspace('b-w')`.
 * - EXIF orientation is applied only when asked (`autoOrient`).
 */
import { promises as fsp, type Stats } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import type { Metadata, OutputInfo } from 'sharp';
import { P2SamError } from '../errors';
import type { ImageData, MaskData } from '../types';

/** A path on disk or the encoded bytes of an image file. */
export type ImageSource = string | Buffer | Uint8Array;

export interface ReadImageOptions {
  /**
   * Intensity window `[lo, hi]` in the file's own sample units (0..65535 for 16-bit,
   * 0..255 for 8-bit): `lo` maps to 0, `hi` to 255, values outside are clipped. This is
   * CT windowing, e.g. `[0, 4095]` for 12-bit data stored in 16-bit PNGs. Without it,
   * 16-bit data is scaled over the full range (value / 257) and 8-bit data is untouched.
   */
  window?: [number, number];
}

// libvips' strictest level: besides truncation it rejects JPEGs whose entropy-coded data
// is damaged ("Corrupt JPEG data"), which otherwise decode to plausible-looking garbage
// that would silently poison a reference embedding.
const FAIL_ON = 'warning' as const;

function describeSource(src: ImageSource): string {
  return typeof src === 'string' ? JSON.stringify(src) : `<buffer of ${src.byteLength} bytes>`;
}

function reasonOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

function checkSource(src: unknown, param: string): asserts src is ImageSource {
  if (typeof src === 'string') {
    if (src.length === 0) throw new TypeError(`${param}: expected a file path or a Buffer, received an empty string`);
    return;
  }
  if (src instanceof Uint8Array) {
    if (src.byteLength === 0) throw new TypeError(`${param}: expected a file path or a Buffer, received an empty buffer`);
    return;
  }
  throw new TypeError(`${param}: expected a file path (string) or a Buffer, received ${src === null ? 'null' : typeof src}`);
}

/** sharp accepts a path or a Buffer; a plain Uint8Array is wrapped without copying. */
function toSharpInput(src: ImageSource): string | Buffer {
  if (typeof src === 'string' || Buffer.isBuffer(src)) return src;
  return Buffer.from(src.buffer, src.byteOffset, src.byteLength);
}

async function probe(src: ImageSource): Promise<Metadata> {
  if (typeof src === 'string') {
    // sharp's own message for a missing file is fine, but a directory or an unreadable
    // file gives vaguer ones; stat first so the reason is precise.
    let st: Stats;
    try {
      st = await fsp.stat(src);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'file does not exist' : reasonOf(err);
      throw new P2SamError('IMAGE_READ_FAILED', `cannot read image ${describeSource(src)}: ${why}`, { cause: err });
    }
    if (!st.isFile()) {
      throw new P2SamError('IMAGE_READ_FAILED', `cannot read image ${describeSource(src)}: not a regular file`);
    }
    if (st.size === 0) {
      throw new P2SamError('IMAGE_READ_FAILED', `cannot read image ${describeSource(src)}: file is empty`);
    }
  }
  try {
    return await sharp(toSharpInput(src), { failOn: FAIL_ON }).metadata();
  } catch (err) {
    throw new P2SamError('IMAGE_READ_FAILED', `cannot read image ${describeSource(src)}: ${reasonOf(err)}`, { cause: err });
  }
}

interface RawPixels {
  /** Samples as decoded: Uint8Array for 8-bit, Uint16Array for 16-bit. */
  samples: Uint8Array | Uint16Array;
  width: number;
  height: number;
  channels: number;
  /** Largest representable sample value (255 or 65535). */
  maxValue: number;
}

/**
 * Decodes to raw samples in the file's own bit depth, upright, with an explicit
 * colourspace. `keepAlpha` keeps a trailing alpha band (masks need it; images drop it).
 */
async function decode(src: ImageSource, meta: Metadata, keepAlpha: boolean): Promise<RawPixels> {
  const depth = meta.depth;
  if (depth !== 'uchar' && depth !== 'ushort') {
    throw new P2SamError(
      'IMAGE_READ_FAILED',
      `cannot read image ${describeSource(src)}: unsupported sample format '${String(depth)}' ` +
        `(expected 8-bit or 16-bit unsigned samples)`,
    );
  }
  const channels = meta.channels ?? 0;
  const hasAlpha = meta.hasAlpha === true;
  const colourBands = hasAlpha ? channels - 1 : channels;
  // Palette images are expanded to RGB(A) by libvips and report space 'srgb'; CMYK
  // reports 4 colour bands and is converted to sRGB below.
  const grey = colourBands === 1;
  const sixteen = depth === 'ushort';
  const space = grey ? (sixteen ? 'grey16' : 'b-w') : sixteen ? 'rgb16' : 'srgb';

  let pipeline = sharp(toSharpInput(src), { failOn: FAIL_ON, autoOrient: true });
  if (hasAlpha && !keepAlpha) pipeline = pipeline.removeAlpha();
  pipeline = pipeline.toColourspace(space);
  let out: { data: Buffer; info: OutputInfo };
  try {
    out = await pipeline.raw(sixteen ? { depth: 'ushort' } : {}).toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new P2SamError('IMAGE_READ_FAILED', `cannot read image ${describeSource(src)}: ${reasonOf(err)}`, { cause: err });
  }
  const { data, info } = out;
  const expectedBands = (grey ? 1 : 3) + (hasAlpha && keepAlpha ? 1 : 0);
  if (info.channels !== expectedBands) {
    // Guards against libvips changing how it maps colourspaces; better a clear error
    // than a silently mis-strided buffer.
    throw new P2SamError(
      'IMAGE_READ_FAILED',
      `cannot read image ${describeSource(src)}: decoder produced ${info.channels} channels, expected ${expectedBands}`,
    );
  }
  let samples: Uint8Array | Uint16Array;
  if (sixteen) {
    // Buffer pools may hand out unaligned offsets; copy when a Uint16Array view would
    // be misaligned.
    if (data.byteOffset % 2 === 0) {
      samples = new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
    } else {
      samples = new Uint16Array(data.byteLength / 2);
      new Uint8Array(samples.buffer).set(data);
    }
  } else {
    samples = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  return { samples, width: info.width, height: info.height, channels: info.channels, maxValue: sixteen ? 65535 : 255 };
}

function checkWindow(win: unknown): asserts win is [number, number] {
  if (!Array.isArray(win) || win.length !== 2) {
    throw new TypeError(`options.window: expected [lo, hi] (two numbers), received ${Array.isArray(win) ? `an array of length ${win.length}` : typeof win}`);
  }
  const [lo, hi] = win as unknown[];
  if (typeof lo !== 'number' || typeof hi !== 'number' || !Number.isFinite(lo) || !Number.isFinite(hi)) {
    throw new TypeError(`options.window: expected two finite numbers, received [${String(lo)}, ${String(hi)}]`);
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
  checkSource(src, 'src');
  if (opts === null || typeof opts !== 'object') {
    throw new TypeError(`options: expected an object, received ${opts === null ? 'null' : typeof opts}`);
  }
  if (opts.window !== undefined) checkWindow(opts.window);

  const meta = await probe(src);
  const raw = await decode(src, meta, false);
  const n = raw.samples.length;
  const out = new Uint8Array(n);

  if (opts.window !== undefined) {
    const [lo, hi] = opts.window;
    const span = hi - lo;
    // A lookup table over every possible sample value keeps the per-pixel work to one
    // array read (65536 entries for 16-bit is cheaper than a multiply+clamp per sample
    // on anything larger than a thumbnail).
    const lut = new Uint8Array(raw.maxValue + 1);
    for (let v = 0; v <= raw.maxValue; v++) {
      // Multiply before dividing so exact halves (e.g. 127.5) round as they should.
      const t = Math.round(((v - lo) * 255) / span);
      lut[v] = Math.min(Math.max(t, 0), 255);
    }
    for (let i = 0; i < n; i++) out[i] = lut[raw.samples[i]!]!;
  } else if (raw.maxValue === 65535) {
    // 65535 / 257 = 255 exactly, so the full 16-bit range maps onto the full 8-bit range
    // and v*257 (8-bit data widened by replication) round-trips.
    for (let i = 0; i < n; i++) out[i] = Math.round(raw.samples[i]! / 257);
  } else {
    out.set(raw.samples);
  }
  return { data: out, width: raw.width, height: raw.height, channels: raw.channels as 1 | 3 };
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
export async function readMask(src: ImageSource, expected?: { width: number; height: number }): Promise<MaskData> {
  checkSource(src, 'src');
  if (expected !== undefined) {
    if (expected === null || typeof expected !== 'object' || !isPositiveInt(expected.width) || !isPositiveInt(expected.height)) {
      throw new TypeError(`expected: expected { width, height } with positive integers, received ${JSON.stringify(expected)}`);
    }
  }
  const meta = await probe(src);
  const raw = await decode(src, meta, true);
  const { samples, width, height, channels } = raw;
  if (expected !== undefined && (expected.width !== width || expected.height !== height)) {
    throw new P2SamError(
      'MASK_SIZE_MISMATCH',
      `mask ${width}×${height} does not match image ${expected.width}×${expected.height} (mask ${describeSource(src)})`,
    );
  }
  const hasAlpha = meta.hasAlpha === true;
  const colourBands = hasAlpha ? channels - 1 : channels;
  const count = width * height;
  const data = new Uint8Array(count);
  let anyColour = false;
  for (let p = 0, o = 0; p < count; p++, o += channels) {
    let fg = 0;
    for (let c = 0; c < colourBands; c++) {
      if (samples[o + c] !== 0) {
        fg = 1;
        break;
      }
    }
    if (fg) anyColour = true;
    if (fg && hasAlpha && samples[o + colourBands] === 0) fg = 0;
    data[p] = fg;
  }
  if (hasAlpha && !anyColour) {
    for (let p = 0, o = colourBands; p < count; p++, o += channels) data[p] = samples[o] !== 0 ? 1 : 0;
  }
  return { data, width, height };
}

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

/** Throws a TypeError/RangeError naming `param` unless `img` is a well-formed ImageData. */
export function checkImageData(img: unknown, param: string): asserts img is ImageData {
  if (img === null || typeof img !== 'object') {
    throw new TypeError(`${param}: expected an ImageData object, received ${img === null ? 'null' : typeof img}`);
  }
  const { data, width, height, channels } = img as Partial<ImageData>;
  if (!isPositiveInt(width) || !isPositiveInt(height)) {
    throw new RangeError(`${param}: expected positive integer width and height, received ${String(width)}×${String(height)}`);
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
    throw new TypeError(`${param}: expected a MaskData object, received ${mask === null ? 'null' : typeof mask}`);
  }
  const { data, width, height } = mask as Partial<MaskData>;
  if (!isPositiveInt(width) || !isPositiveInt(height)) {
    throw new RangeError(`${param}: expected positive integer width and height, received ${String(width)}×${String(height)}`);
  }
  if (!(data instanceof Uint8Array)) {
    throw new TypeError(`${param}.data: expected a Uint8Array`);
  }
  if (data.length !== width * height) {
    throw new RangeError(`${param}.data: expected ${width}×${height} = ${width * height} bytes, received ${data.length}`);
  }
}

async function ensureParentDir(file: string): Promise<void> {
  await fsp.mkdir(path.dirname(path.resolve(file)), { recursive: true });
}

/**
 * Writes a mask as a 1-channel 8-bit PNG with values 0 and 255 (non-zero → 255),
 * creating the parent directory.
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
  await sharp(px, { raw: { width: mask.width, height: mask.height, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toFile(file);
}

/**
 * Writes an ImageData as PNG keeping its channel count (grey, RGB or RGBA), creating
 * the parent directory.
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
  const bytes = img.data instanceof Uint8Array ? img.data : new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.length);
  await ensureParentDir(file);
  let pipeline = sharp(bytes, { raw: { width: img.width, height: img.height, channels: img.channels } });
  if (img.channels === 1) pipeline = pipeline.toColourspace('b-w');
  await pipeline.png().toFile(file);
}
