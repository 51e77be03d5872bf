/**
 * The decoding half of readImage/readMask: libvips decodes (asynchronously, on its own
 * threads), then the per-sample work — 16-bit to 8-bit scaling, CT windowing, mask
 * thresholding — runs in plain JavaScript. That loop is what must not run on the
 * caller's event loop, so these functions are what the helper thread runs
 * (lib/worker/offload.ts); image.ts validates the arguments and hands them over.
 *
 * sharp pitfalls handled here (see BUILD.md "Images"):
 * - `.raw()` output is converted to sRGB unless a colourspace is requested, so a grey
 *   PNG would come back as 3 identical channels and a 16-bit grey PNG as 8-bit RGB.
 *   Every read therefore names its colourspace explicitly (`b-w`/`grey16`/`srgb`/`rgb16`).
 * - EXIF orientation is applied only when asked (`autoOrient`).
 */
import { promises as fsp, type Stats } from 'node:fs';
import sharp from 'sharp';
import type { Metadata, OutputInfo } from 'sharp';
import { P2SamError } from '../errors';
import type { ImageData, MaskData } from '../types';

/** A path on disk or the encoded bytes of an image file. */
export type ImageSource = string | Buffer | Uint8Array;

// libvips' strictest level: besides truncation it rejects JPEGs whose entropy-coded data
// is damaged ("Corrupt JPEG data"), which otherwise decode to plausible-looking garbage
// that would silently poison a reference embedding.
const FAIL_ON = 'warning' as const;

export function describeSource(src: ImageSource): string {
  return typeof src === 'string' ? JSON.stringify(src) : `<buffer of ${src.byteLength} bytes>`;
}

function reasonOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
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
      throw new P2SamError('IMAGE_READ_FAILED', `cannot read image ${describeSource(src)}: ${why}`, {
        cause: err,
      });
    }
    if (!st.isFile()) {
      throw new P2SamError(
        'IMAGE_READ_FAILED',
        `cannot read image ${describeSource(src)}: not a regular file`,
      );
    }
    if (st.size === 0) {
      throw new P2SamError('IMAGE_READ_FAILED', `cannot read image ${describeSource(src)}: file is empty`);
    }
  }
  try {
    return await sharp(toSharpInput(src), { failOn: FAIL_ON }).metadata();
  } catch (err) {
    throw new P2SamError('IMAGE_READ_FAILED', `cannot read image ${describeSource(src)}: ${reasonOf(err)}`, {
      cause: err,
    });
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
    throw new P2SamError('IMAGE_READ_FAILED', `cannot read image ${describeSource(src)}: ${reasonOf(err)}`, {
      cause: err,
    });
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
  return {
    samples,
    width: info.width,
    height: info.height,
    channels: info.channels,
    maxValue: sixteen ? 65535 : 255,
  };
}

/** readImage's work once its arguments are checked: decode, then scale or window to 8 bits. */
/** A decoded image and what its file held before the conversion to 8 bits. */
export interface DecodedImage extends ImageData {
  /** Bits per sample in the file: 8 or 16. */
  bitDepth: 8 | 16;
  /** The largest sample value in the file (before windowing or scaling): 12-bit CT in 16-bit PNGs stays ≤ 4095. */
  maxSample: number;
}

export async function decodeImage(
  src: ImageSource,
  window: [number, number] | undefined,
): Promise<DecodedImage> {
  const meta = await probe(src);
  const raw = await decode(src, meta, false);
  const n = raw.samples.length;
  const out = new Uint8Array(n);

  if (window !== undefined) {
    const [lo, hi] = window;
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
  let maxSample = 0;
  for (let i = 0; i < n; i++) if (raw.samples[i]! > maxSample) maxSample = raw.samples[i]!;
  return {
    data: out,
    width: raw.width,
    height: raw.height,
    channels: raw.channels as 1 | 3,
    bitDepth: raw.maxValue === 65535 ? 16 : 8,
    maxSample,
  };
}

/** A decoded mask and how many distinct values its first colour band held (capped). */
export interface DecodedMask extends MaskData {
  /**
   * Distinct sample values in the first colour band, counted up to MAX_MASK_LEVELS + 1.
   * A mask (binary, or a label map) has a handful; a photo or CT slice given where a
   * mask was expected has hundreds — the CLI refuses those instead of thresholding them.
   */
  levels: number;
}

/** More distinct values than this and a "mask" is an image (label maps have far fewer). */
export const MAX_MASK_LEVELS = 64;

/** readMask's work once its arguments are checked: decode, then threshold to 0/1. */
export async function decodeMask(
  src: ImageSource,
  expected: { width: number; height: number } | undefined,
): Promise<DecodedMask> {
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
  const seen = new Uint8Array(raw.maxValue + 1);
  let levels = 0;
  for (let p = 0, o = 0; p < count && levels <= MAX_MASK_LEVELS; p++, o += channels) {
    const v = samples[o]!;
    if (!seen[v]) {
      seen[v] = 1;
      levels++;
    }
  }
  return { data, width, height, levels };
}
