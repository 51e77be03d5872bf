/**
 * Pixel data of one DICOM image → stored values per frame, for every transfer syntax a
 * CT/MR series arrives in.
 *
 * Which decoder does what, and why those:
 * - implicit / explicit VR little endian, deflated (dcmjs inflates the data set): native
 *   pixels, read here with BitsStored masking and sign extension.
 * - explicit VR big endian: native pixels with the bytes of each word swapped here
 *   (dcmjs hands OW data over as it lies in the file).
 * - RLE Lossless: PS3.5 Annex G is a 64-byte header plus PackBits segments, small enough
 *   to decode here exactly as the standard describes.
 * - JPEG baseline (8-bit): @cornerstonejs/codec-libjpeg-turbo-8bit, libjpeg-turbo in
 *   WASM, the decoder OHIF/Cornerstone ship to hospitals.
 * - JPEG lossless (processes 14 / SV1): jpeg-lossless-decoder-js, the pure-JS decoder the
 *   same viewers use (Cornerstone vendors a fork of it).
 * - JPEG-LS: @cornerstonejs/codec-charls (CharLS, the JPEG-LS reference used by DCMTK/GDCM).
 * - JPEG 2000: @cornerstonejs/codec-openjpeg (OpenJPEG, the ISO reference implementation).
 * - JPEG extended with 12-bit samples: libjpeg-turbo's 8-bit build cannot decode them, and
 *   the pdf.js-derived 12-bit decoders on npm (daikon, Cornerstone's jpeg.js) were measured
 *   against DCMTK's dcmdjpeg on pydicom's JPGExtended.dcm and are off by 9–15 grey levels
 *   on every pixel; jpeg-dct.ts decodes them instead, sample-for-sample equal to DCMTK.
 *   JPEG extended files with 8-bit samples decode through libjpeg-turbo.
 */
import { P2SamError } from '../errors';
import type { NaturalDataset } from './dcmjs';
import { numbers, text, TS, type DicomFile } from './dicom-file';
import { decodeJpegDct, JpegDecodeError } from './jpeg-dct';

/* eslint-disable @typescript-eslint/no-require-imports */

/** Stored (not yet rescaled) values of each frame, row-major, one sample per pixel. */
export type StoredFrame = Int32Array;

interface EmscriptenCodec {
  getEncodedBuffer(length: number): Uint8Array;
  decode(): void;
  getDecodedBuffer(): Uint8Array;
  getFrameInfo(): {
    width: number;
    height: number;
    bitsPerSample: number;
    componentCount: number;
    isSigned?: boolean;
  };
  delete?(): void;
}
interface CodecModules {
  jpegTurbo: { JPEGDecoder: new () => EmscriptenCodec };
  charls: { JpegLSDecoder: new () => EmscriptenCodec };
  openjpeg: { J2KDecoder: new () => EmscriptenCodec };
}

let codecs: Promise<CodecModules> | undefined;

/** The WASM decoders, instantiated once per process on first use (tens of ms). */
function loadCodecs(): Promise<CodecModules> {
  // The Emscripten builds print progress ("[INFO] Main header has been correctly
  // decoded") through print/printErr; silence them, errors come back as exceptions.
  const quiet = { print: () => {}, printErr: () => {} };
  codecs ??= (async () => {
    const [jpegTurbo, charls, openjpeg] = await Promise.all([
      (
        require('@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs') as (
          o: object,
        ) => Promise<CodecModules['jpegTurbo']>
      )(quiet),
      (require('@cornerstonejs/codec-charls/decodewasmjs') as (o: object) => Promise<CodecModules['charls']>)(
        quiet,
      ),
      (
        require('@cornerstonejs/codec-openjpeg/decodewasmjs') as (
          o: object,
        ) => Promise<CodecModules['openjpeg']>
      )(quiet),
    ]);
    return { jpegTurbo, charls, openjpeg };
  })();
  return codecs;
}

export interface PixelFormat {
  rows: number;
  columns: number;
  frames: number;
  bitsAllocated: number;
  bitsStored: number;
  signed: boolean;
  photometric: string;
}

export function pixelFormat(df: DicomFile): PixelFormat {
  const ds = df.dataset;
  const rows = numbers(ds, 'Rows')?.[0];
  const columns = numbers(ds, 'Columns')?.[0];
  const bitsAllocated = numbers(ds, 'BitsAllocated')?.[0];
  if (!rows || !columns || !bitsAllocated) {
    throw new P2SamError(
      'DICOM_READ_FAILED',
      `${df.file}: no image: Rows/Columns/BitsAllocated missing (SOP class ${text(ds, 'SOPClassUID')})`,
    );
  }
  const samples = numbers(ds, 'SamplesPerPixel')?.[0] ?? 1;
  const photometric = text(ds, 'PhotometricInterpretation') || 'MONOCHROME2';
  if (samples !== 1 || !photometric.startsWith('MONOCHROME')) {
    throw new P2SamError(
      'DICOM_UNSUPPORTED',
      `${df.file}: expected a greyscale image (SamplesPerPixel 1, MONOCHROME1/2), received SamplesPerPixel ${samples}, ${photometric}`,
    );
  }
  if (![8, 16, 32].includes(bitsAllocated)) {
    throw new P2SamError(
      'DICOM_UNSUPPORTED',
      `${df.file}: expected BitsAllocated 8, 16 or 32, received ${bitsAllocated}`,
    );
  }
  return {
    rows,
    columns,
    frames: numbers(ds, 'NumberOfFrames')?.[0] ?? 1,
    bitsAllocated,
    bitsStored: numbers(ds, 'BitsStored')?.[0] ?? bitsAllocated,
    signed: (numbers(ds, 'PixelRepresentation')?.[0] ?? 0) === 1,
    photometric,
  };
}

/** Interprets native little-endian words as BitsStored-bit values (masked, sign-extended). */
function nativeToStored(bytes: Uint8Array, f: PixelFormat, bigEndian: boolean): Int32Array {
  const n = bytes.byteLength / (f.bitsAllocated / 8);
  const out = new Int32Array(Math.floor(n));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const mask = f.bitsStored >= 32 ? 0xffffffff : (1 << f.bitsStored) - 1;
  const signBit = f.bitsStored >= 32 ? 0x80000000 : 1 << (f.bitsStored - 1);
  for (let i = 0; i < out.length; i++) {
    let v: number;
    if (f.bitsAllocated === 8) v = view.getUint8(i);
    else if (f.bitsAllocated === 16) v = view.getUint16(2 * i, !bigEndian);
    else v = view.getUint32(4 * i, !bigEndian);
    v = f.bitsStored >= 32 ? v >>> 0 : v & mask;
    if (f.signed && v & signBit) v -= f.bitsStored >= 32 ? 0x100000000 : 1 << f.bitsStored;
    out[i] = v;
  }
  return out;
}

/** PS3.5 Annex G: header of 16 LE uint32 (segment count, offsets), then PackBits segments. */
function decodeRle(file: string, data: Uint8Array, f: PixelFormat): Uint8Array {
  const bytesPerSample = f.bitsAllocated / 8;
  const pixels = f.rows * f.columns;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const segments = view.getUint32(0, true);
  if (segments !== bytesPerSample) {
    throw new P2SamError(
      'DICOM_READ_FAILED',
      `${file}: RLE frame has ${segments} segments, expected ${bytesPerSample} for BitsAllocated ${f.bitsAllocated}`,
    );
  }
  const out = new Uint8Array(pixels * bytesPerSample);
  for (let s = 0; s < segments; s++) {
    const start = view.getUint32(4 + 4 * s, true);
    const end = s + 1 < segments ? view.getUint32(8 + 4 * s, true) : data.byteLength;
    // Segment 0 holds the most significant byte of every sample; native LE puts it last.
    const byteInWord = bytesPerSample - 1 - s;
    let i = start;
    let px = 0;
    while (i < end && px < pixels) {
      const n = (data[i++]! << 24) >> 24; // signed header byte
      if (n >= 0) {
        for (let j = 0; j <= n && px < pixels; j++) out[px++ * bytesPerSample + byteInWord] = data[i++]!;
      } else if (n !== -128) {
        const v = data[i++]!;
        for (let j = 0; j < 1 - n && px < pixels; j++) out[px++ * bytesPerSample + byteInWord] = v;
      }
    }
    if (px < pixels)
      throw new P2SamError(
        'DICOM_READ_FAILED',
        `${file}: RLE segment ${s + 1} ends after ${px} of ${pixels} pixels`,
      );
  }
  return out;
}

function runEmscripten(
  file: string,
  what: string,
  decoder: EmscriptenCodec,
  data: Uint8Array,
  f: PixelFormat,
): Uint8Array {
  try {
    decoder.getEncodedBuffer(data.byteLength).set(data);
    decoder.decode();
    const info = decoder.getFrameInfo();
    if (info.width !== f.columns || info.height !== f.rows || info.componentCount !== 1) {
      throw new Error(
        `codestream is ${info.width}×${info.height}×${info.componentCount}, the header says ${f.columns}×${f.rows}×1`,
      );
    }
    const decoded = decoder.getDecodedBuffer();
    return new Uint8Array(decoded); // copy out of the WASM heap before delete()
  } catch (err) {
    if (err instanceof P2SamError) throw err;
    throw new P2SamError(
      'DICOM_READ_FAILED',
      `${file}: ${what} decoding failed: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  } finally {
    decoder.delete?.();
  }
}

/** 12-bit sequential DCT through jpeg-dct.ts, as little-endian 16-bit words. */
function decodeTwelveBit(file: string, data: Uint8Array, f: PixelFormat): Uint8Array {
  let decoded: ReturnType<typeof decodeJpegDct>;
  try {
    decoded = decodeJpegDct(data);
  } catch (err) {
    if (err instanceof JpegDecodeError)
      throw new P2SamError('DICOM_UNSUPPORTED', `${file}: 12-bit JPEG: ${err.message}`, { cause: err });
    throw new P2SamError(
      'DICOM_READ_FAILED',
      `${file}: 12-bit JPEG decoding failed: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (decoded.width !== f.columns || decoded.height !== f.rows) {
    throw new P2SamError(
      'DICOM_READ_FAILED',
      `${file}: JPEG stream is ${decoded.width}×${decoded.height}, the header says ${f.columns}×${f.rows}`,
    );
  }
  if (f.bitsAllocated !== 16)
    throw new P2SamError(
      'DICOM_UNSUPPORTED',
      `${file}: 12-bit JPEG samples need BitsAllocated 16, received ${f.bitsAllocated}`,
    );
  const out = new Uint8Array(decoded.samples.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < decoded.samples.length; i++) view.setUint16(2 * i, decoded.samples[i]!, true);
  return out;
}

/** JPEG precision (bits per sample) from the first SOFn marker, or undefined. */
function jpegPrecision(data: Uint8Array): number | undefined {
  for (let i = 2; i + 4 < data.length; ) {
    if (data[i] !== 0xff) return undefined;
    const marker = data[i + 1]!;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc)
      return data[i + 4];
    i += 2 + ((data[i + 2]! << 8) | data[i + 3]!);
  }
  return undefined;
}

function frameBuffers(df: DicomFile, f: PixelFormat): Uint8Array[] {
  const pd = df.dataset.PixelData;
  const parts = (Array.isArray(pd) ? pd : pd ? [pd] : []).map((b) => new Uint8Array(b as ArrayBuffer));
  if (!parts.length) throw new P2SamError('DICOM_READ_FAILED', `${df.file}: no PixelData`);
  // A single frame split over several fragments (no basic offset table): join them.
  if (f.frames === 1 && parts.length > 1) return [Buffer.concat(parts)];
  if (parts.length !== f.frames) {
    throw new P2SamError(
      'DICOM_READ_FAILED',
      `${df.file}: ${parts.length} compressed frames for NumberOfFrames ${f.frames}`,
    );
  }
  return parts;
}

const NATIVE = new Set<string>([TS.implicitLittle, TS.explicitLittle, TS.deflated, TS.explicitBig]);

/**
 * Decodes all frames of an image file to stored values.
 *
 * @example
 *   const df = readDicomFile('MR_small_RLE.dcm');
 *   const [frame] = await decodeFrames(df); // Int32Array of 64×64 stored values
 */
export async function decodeFrames(df: DicomFile): Promise<StoredFrame[]> {
  const f = pixelFormat(df);
  const ts = df.transferSyntax;
  const pixels = f.rows * f.columns;
  const frameBytes = pixels * (f.bitsAllocated / 8);
  if (NATIVE.has(ts)) {
    const pd = df.dataset.PixelData;
    const buf = Array.isArray(pd) ? (pd[0] as ArrayBuffer | undefined) : (pd as ArrayBuffer | undefined);
    if (!buf) throw new P2SamError('DICOM_READ_FAILED', `${df.file}: no PixelData`);
    const bytes = new Uint8Array(buf);
    if (bytes.byteLength < frameBytes * f.frames) {
      throw new P2SamError(
        'DICOM_READ_FAILED',
        `${df.file}: truncated: PixelData has ${bytes.byteLength} bytes, ${f.frames} frame(s) of ${f.columns}×${f.rows}×${f.bitsAllocated / 8} need ${frameBytes * f.frames}`,
      );
    }
    const all = nativeToStored(bytes.subarray(0, frameBytes * f.frames), f, ts === TS.explicitBig);
    return Array.from({ length: f.frames }, (_, i) => all.subarray(i * pixels, (i + 1) * pixels));
  }
  const frames = frameBuffers(df, f);
  const out: StoredFrame[] = [];
  for (const data of frames) {
    let native: Uint8Array;
    switch (ts) {
      case TS.rle:
        native = decodeRle(df.file, data, f);
        break;
      case TS.jpegBaseline:
      case TS.jpegExtended: {
        const precision = jpegPrecision(data);
        if (precision === 12) {
          native = decodeTwelveBit(df.file, data, f);
          break;
        }
        if (precision !== 8) {
          throw new P2SamError(
            'DICOM_UNSUPPORTED',
            `${df.file}: JPEG with ${precision ?? 'unknown'}-bit samples (transfer syntax ${ts}); expected 8 or 12`,
          );
        }
        native = runEmscripten(
          df.file,
          'JPEG baseline',
          new (await loadCodecs()).jpegTurbo.JPEGDecoder(),
          data,
          f,
        );
        break;
      }
      case TS.jpegLossless14:
      case TS.jpegLosslessSV1: {
        const { Decoder } = require('jpeg-lossless-decoder-js') as {
          Decoder: new () => { decode(b: ArrayBuffer, o: number, l: number, n: number): ArrayBufferView };
        };
        try {
          const decoded = new Decoder().decode(
            data.buffer as ArrayBuffer,
            data.byteOffset,
            data.byteLength,
            f.bitsAllocated / 8,
          );
          native = new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength);
        } catch (err) {
          throw new P2SamError(
            'DICOM_READ_FAILED',
            `${df.file}: JPEG lossless decoding failed: ${(err as Error).message}`,
            { cause: err },
          );
        }
        break;
      }
      case TS.jpegLsLossless:
      case TS.jpegLsNear:
        native = runEmscripten(df.file, 'JPEG-LS', new (await loadCodecs()).charls.JpegLSDecoder(), data, f);
        break;
      case TS.j2kLossless:
      case TS.j2k:
        native = runEmscripten(df.file, 'JPEG 2000', new (await loadCodecs()).openjpeg.J2KDecoder(), data, f);
        break;
      default:
        throw new P2SamError(
          'DICOM_UNSUPPORTED',
          `${df.file}: transfer syntax ${ts} is not supported (expected one of the uncompressed, deflate, RLE, JPEG, JPEG-LS or JPEG 2000 syntaxes)`,
        );
    }
    if (native.byteLength < frameBytes) {
      throw new P2SamError(
        'DICOM_READ_FAILED',
        `${df.file}: decoded frame has ${native.byteLength} bytes, expected ${frameBytes}`,
      );
    }
    out.push(nativeToStored(native.subarray(0, frameBytes), f, false));
  }
  return out;
}

/** RescaleSlope/Intercept (CT Image module; 1/0 when absent, as for MR). */
export function rescaleOf(ds: NaturalDataset): { slope: number; intercept: number } {
  return {
    slope: numbers(ds, 'RescaleSlope')?.[0] ?? 1,
    intercept: numbers(ds, 'RescaleIntercept')?.[0] ?? 0,
  };
}
