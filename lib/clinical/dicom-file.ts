/**
 * One DICOM file in, one out: dcmjs does the parsing and encoding; this adds what a
 * clinical reader must not get wrong — a coded error naming the file for anything that
 * is not a readable DICOM object, detection of truncated pixel data (dcmjs zero-fills a
 * short final element instead of failing), files without the Part 10 preamble and meta
 * header (read as a bare implicit VR little endian data set, the DICOM default), and
 * writes that never leave a half-written file behind.
 */
import { writeFileAtomicSync } from '../io/atomic-file';
import { randomBytes, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { P2SamError } from '../errors';
import dcmjs, { type DictDataset, type NaturalDataset } from './dcmjs';
import { encodePart10 } from './dicom-writer';

export const TS = {
  implicitLittle: '1.2.840.10008.1.2',
  explicitLittle: '1.2.840.10008.1.2.1',
  deflated: '1.2.840.10008.1.2.1.99',
  explicitBig: '1.2.840.10008.1.2.2',
  rle: '1.2.840.10008.1.2.5',
  jpegBaseline: '1.2.840.10008.1.2.4.50',
  jpegExtended: '1.2.840.10008.1.2.4.51',
  jpegLossless14: '1.2.840.10008.1.2.4.57',
  jpegLosslessSV1: '1.2.840.10008.1.2.4.70',
  jpegLsLossless: '1.2.840.10008.1.2.4.80',
  jpegLsNear: '1.2.840.10008.1.2.4.81',
  j2kLossless: '1.2.840.10008.1.2.4.90',
  j2k: '1.2.840.10008.1.2.4.91',
} as const;

export const SOP_CLASS = {
  ct: '1.2.840.10008.5.1.4.1.1.2',
  mr: '1.2.840.10008.5.1.4.1.1.4',
  rtstruct: '1.2.840.10008.5.1.4.1.1.481.3',
  seg: '1.2.840.10008.5.1.4.1.1.66.4',
} as const;

export interface DicomFile {
  file: string;
  /** Transfer syntax of the data set (implicit VR LE for files without a meta header). */
  transferSyntax: string;
  /** True when the file had the 128-byte preamble, "DICM" and a File Meta group. */
  hasMeta: boolean;
  dataset: NaturalDataset;
}

function toArrayBuffer(b: Buffer): ArrayBuffer {
  // Node pools small Buffers inside a shared ArrayBuffer: copy out exactly this file.
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

function fail(file: string, why: string, cause?: unknown): never {
  throw new P2SamError(
    'DICOM_READ_FAILED',
    `${file}: not a readable DICOM file: ${why}`,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * dcmjs pads a PixelData element whose declared length runs past the end of the file
 * with zeros. Native pixel data is the last element of an image file in practice, so:
 * find the last PixelData header in the bytes and check its declared length fits.
 */
function checkPixelDataNotTruncated(file: string, bytes: Buffer, syntax: string): void {
  if (syntax === TS.deflated) return; // the deflate stream itself fails when cut
  const big = syntax === TS.explicitBig;
  const tag = big ? Buffer.from([0x7f, 0xe0, 0x00, 0x10]) : Buffer.from([0xe0, 0x7f, 0x10, 0x00]);
  let at = bytes.lastIndexOf(tag);
  while (at >= 0) {
    const vr = bytes.toString('latin1', at + 4, at + 6);
    let length: number;
    let header: number;
    if (syntax !== TS.implicitLittle && (vr === 'OW' || vr === 'OB')) {
      length = big ? bytes.readUInt32BE(at + 8) : bytes.readUInt32LE(at + 8);
      header = 12;
    } else if (syntax === TS.implicitLittle) {
      length = bytes.readUInt32LE(at + 4);
      header = 8;
    } else {
      at = at > 0 ? bytes.lastIndexOf(tag, at - 1) : -1;
      continue;
    }
    if (length === 0xffffffff) return; // encapsulated: dcmjs fails on cut fragments itself
    const available = bytes.length - at - header;
    if (length > available) {
      fail(file, `truncated: PixelData declares ${length} bytes but only ${available} remain in the file`);
    }
    return;
  }
}

/**
 * Reads one DICOM file (Part 10, or a bare data set without meta header).
 *
 * @example
 *   const { dataset, transferSyntax } = readDicomFile('CT_small.dcm');
 *   console.log(dataset.Modality, transferSyntax);
 */
export function readDicomFile(file: string): DicomFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    fail(
      file,
      (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String((err as Error).message),
      err,
    );
  }
  const hasMeta = bytes.length >= 132 && bytes.toString('latin1', 128, 132) === 'DICM';
  if (hasMeta) {
    let parsed: { meta: DictDataset; dict: DictDataset };
    try {
      parsed = dcmjs().data.DicomMessage.readFile(toArrayBuffer(bytes));
    } catch (err) {
      fail(file, (err as Error).message, err);
    }
    const meta = dcmjs().data.DicomMetaDictionary.naturalizeDataset(parsed.meta);
    const transferSyntax = String(meta.TransferSyntaxUID ?? '');
    if (!transferSyntax) fail(file, 'the File Meta group has no TransferSyntaxUID');
    checkPixelDataNotTruncated(file, bytes, transferSyntax);
    return {
      file,
      transferSyntax,
      hasMeta,
      dataset: dcmjs().data.DicomMetaDictionary.naturalizeDataset(parsed.dict),
    };
  }
  // No preamble: PS3.10 allows only Part 10 files on media, but older tools (and
  // pydicom's own rtstruct.dcm) write the bare data set in the default transfer syntax.
  // Accept it only when it starts like a data set: a group-0008 element first.
  if (bytes.length < 8 || bytes.readUInt16LE(0) !== 0x0008) {
    fail(
      file,
      'no DICM preamble/meta header, and the bytes do not start like an implicit VR little endian data set (group 0008)',
    );
  }
  let dict: DictDataset;
  try {
    const stream = new (dcmjs().data.ReadBufferStream)(toArrayBuffer(bytes), true);
    dict = dcmjs().data.DicomMessage._read(stream, TS.implicitLittle, { ignoreErrors: false });
  } catch (err) {
    fail(
      file,
      `no meta header, and reading it as implicit VR little endian failed: ${(err as Error).message}`,
      err,
    );
  }
  const dataset = dcmjs().data.DicomMetaDictionary.naturalizeDataset(dict);
  if (typeof dataset.SOPClassUID !== 'string')
    fail(file, 'no meta header and no SOPClassUID in the data set');
  checkPixelDataNotTruncated(file, bytes, TS.implicitLittle);
  return { file, transferSyntax: TS.implicitLittle, hasMeta, dataset };
}

/** A fresh DICOM UID under the UUID-derived root 2.25 (PS3.5 B.2). */
export function newUid(seed?: string): string {
  const bytes =
    seed === undefined ? randomBytes(16) : createHash('sha256').update(seed).digest().subarray(0, 16);
  const copy = Buffer.from(bytes);
  // Mark as an RFC 4122 version-4 / name-based UUID so the integer is a valid 2.25 arc.
  copy[6] = (copy[6]! & 0x0f) | (seed === undefined ? 0x40 : 0x50);
  copy[8] = (copy[8]! & 0x3f) | 0x80;
  return `2.25.${BigInt(`0x${copy.toString('hex')}`).toString()}`;
}

/** DICOM DA and TM values for a moment (local time, as modalities write them). */
export function dicomDateTime(d = new Date()): { date: string; time: string } {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return {
    date: `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}`,
    time: `${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`,
  };
}

export const IMPLEMENTATION_CLASS_UID = '2.25.290175916383640871416532455416012331329';
export const IMPLEMENTATION_VERSION = 'P2SAM_NATIVE_01';

/**
 * Encodes a naturalized data set as a Part 10 file in explicit VR little endian
 * (dicom-writer.ts) and writes it through a temporary file renamed into place, so a
 * failure never leaves a partial output.
 */
export function writeDicomFile(file: string, dataset: NaturalDataset): void {
  const sopClassUid = dataset.SOPClassUID as string;
  const sopInstanceUid = dataset.SOPInstanceUID as string;
  const meta = dcmjs().data.DicomMetaDictionary.denaturalizeDataset({
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: sopClassUid,
    MediaStorageSOPInstanceUID: sopInstanceUid,
    TransferSyntaxUID: TS.explicitLittle,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: IMPLEMENTATION_VERSION,
  });
  const buffer = encodePart10(meta, dcmjs().data.DicomMetaDictionary.denaturalizeDataset(dataset));
  // Temporary name opened no-follow, then renamed: never a half-written file or a write through a link.
  try {
    writeFileAtomicSync(file, buffer);
  } catch (err) {
    throw new P2SamError(
      'OUTPUT_PATH_REFUSED',
      `${file}: could not write the DICOM file: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/** First item of a sequence attribute, or undefined. */
export function firstItem(ds: NaturalDataset, key: string): NaturalDataset | undefined {
  const v = ds[key];
  if (Array.isArray(v)) return v[0] as NaturalDataset | undefined;
  if (v && typeof v === 'object' && !ArrayBuffer.isView(v) && !(v instanceof ArrayBuffer))
    return v as NaturalDataset;
  return undefined;
}

/** A sequence attribute as an array (dcmjs gives a bare object for one-item sequences). */
export function items(ds: NaturalDataset, key: string): NaturalDataset[] {
  const v = ds[key];
  if (Array.isArray(v)) return v as NaturalDataset[];
  if (v && typeof v === 'object' && !ArrayBuffer.isView(v) && !(v instanceof ArrayBuffer))
    return [v as NaturalDataset];
  return [];
}

/** A numeric multi-valued attribute (DS/IS/US/FD) as numbers, or undefined. */
export function numbers(ds: NaturalDataset, key: string): number[] | undefined {
  const v = ds[key];
  if (v === undefined || v === null || v === '') return undefined;
  const arr = Array.isArray(v) ? v : [v];
  const out = arr.map((x) => Number(x));
  return out.every((x) => Number.isFinite(x)) ? out : undefined;
}

/** A string attribute (PN values come back as objects: use their Alphabetic form). */
export function text(ds: NaturalDataset, key: string): string {
  const v = ds[key];
  if (v === undefined || v === null) return '';
  const one = Array.isArray(v) ? v[0] : v;
  if (one && typeof one === 'object' && 'Alphabetic' in (one as object))
    return String((one as { Alphabetic: unknown }).Alphabetic ?? '');
  return one === undefined || one === null ? '' : String(one);
}
