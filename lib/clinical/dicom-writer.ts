/**
 * Encodes a data set (dcmjs's tag-keyed "dict" form, as `denaturalizeDataset` makes it)
 * as explicit VR little endian with defined lengths.
 *
 * Why not dcmjs's own writer: it opens a new 256 KiB buffer for every sequence item, so
 * an RTSTRUCT with tens of thousands of contours (a 512×512×100 CT) allocates gigabytes
 * and took ~56 s to write; encoding bottom-up into exact-size Buffers is linear (about a
 * second for the same file). dcmjs still does the keyword → tag/VR mapping.
 *
 * Rules applied (PS3.5): 2-byte lengths for the short VRs, 2 reserved bytes + 4-byte
 * length for OB/OD/OF/OL/OV/OW/SQ/UC/UN/UR/UT/SV/UV; values padded to even length (UI with
 * NUL, other text with a space, binary with 0); multiple text values joined by "\";
 * DS values re-formatted to at most 16 characters; items and sequences with defined
 * lengths; elements in ascending tag order.
 */
import type { DictDataset } from './dcmjs';

const LONG_VR = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'UC', 'UN', 'UR', 'UT', 'SV', 'UV']);
const TEXT_VR = new Set([
  'AE',
  'AS',
  'CS',
  'DA',
  'DS',
  'DT',
  'IS',
  'LO',
  'LT',
  'PN',
  'SH',
  'ST',
  'TM',
  'UC',
  'UI',
  'UR',
  'UT',
]);

/** A DS value of at most 16 characters (PS3.5 6.2) with as many significant digits as fit. */
export function formatDs(v: number): string {
  if (Object.is(v, -0) || Math.abs(v) < 1e-9) return '0';
  for (let digits = 12; digits >= 1; digits--) {
    const s = String(Number(v.toPrecision(digits)));
    if (s.length <= 16) return s;
  }
  return v.toExponential(6);
}

function header(tag: string, vr: string, length: number): Buffer {
  const group = parseInt(tag.slice(0, 4), 16);
  const element = parseInt(tag.slice(4, 8), 16);
  const long = LONG_VR.has(vr);
  const b = Buffer.alloc(long ? 12 : 8);
  b.writeUInt16LE(group, 0);
  b.writeUInt16LE(element, 2);
  b.write(vr, 4, 'latin1');
  if (long) b.writeUInt32LE(length, 8);
  else {
    if (length > 0xffff)
      throw new Error(`element ${tag} (${vr}) value of ${length} bytes exceeds the 16-bit length of its VR`);
    b.writeUInt16LE(length, 6);
  }
  return b;
}

function textValue(vr: string, values: unknown[]): Buffer {
  const parts = values.map((v) => {
    if (v === null || v === undefined) return '';
    if (vr === 'PN' && typeof v === 'object') {
      const pn = v as { Alphabetic?: string; Ideographic?: string; Phonetic?: string };
      return [pn.Alphabetic ?? '', pn.Ideographic ?? '', pn.Phonetic ?? ''].join('=').replace(/=+$/, '');
    }
    if (vr === 'DS') return typeof v === 'number' || String(v).length > 16 ? formatDs(Number(v)) : String(v);
    if (vr === 'IS') return String(Math.round(Number(v)));
    return String(v);
  });
  const s = Buffer.from(parts.join('\\'), 'utf8');
  return s.length % 2 ? Buffer.concat([s, Buffer.from(vr === 'UI' ? [0] : [0x20])]) : s;
}

function binaryValue(vr: string, values: unknown[]): Buffer {
  const size = { US: 2, SS: 2, UL: 4, SL: 4, FL: 4, FD: 8, AT: 4, SV: 8, UV: 8 }[vr];
  if (size !== undefined) {
    const b = Buffer.alloc(size * values.length);
    values.forEach((raw, i) => {
      const v = Number(raw);
      const o = i * size;
      if (vr === 'US') b.writeUInt16LE(v, o);
      else if (vr === 'SS') b.writeInt16LE(v, o);
      else if (vr === 'UL') b.writeUInt32LE(v >>> 0, o);
      else if (vr === 'SL') b.writeInt32LE(v, o);
      else if (vr === 'FL') b.writeFloatLE(v, o);
      else if (vr === 'FD') b.writeDoubleLE(v, o);
      else if (vr === 'AT') {
        b.writeUInt16LE(Math.floor(v / 0x10000), o); // group, then element
        b.writeUInt16LE(v & 0xffff, o + 2);
      } else if (vr === 'SV') b.writeBigInt64LE(BigInt(v), o);
      else b.writeBigUInt64LE(BigInt(v), o);
    });
    return b;
  }
  // OB/OW/OF/OD/OL/OV/UN: ArrayBuffers / views, concatenated.
  const parts = values.map((v) =>
    v instanceof ArrayBuffer
      ? Buffer.from(v)
      : ArrayBuffer.isView(v)
        ? Buffer.from(v.buffer, v.byteOffset, v.byteLength)
        : Buffer.alloc(0),
  );
  const b = Buffer.concat(parts);
  return b.length % 2 ? Buffer.concat([b, Buffer.alloc(1)]) : b;
}

/** The encoded elements of one data set (or sequence item), in tag order. */
export function encodeDataset(dict: DictDataset): Buffer {
  const chunks: Buffer[] = [];
  const tags = Object.keys(dict).sort((a, b) => parseInt(a, 16) - parseInt(b, 16));
  for (const tag of tags) {
    const { vr, Value } = dict[tag]!;
    const values = Value ?? [];
    if (vr === 'SQ') {
      const itemChunks: Buffer[] = [];
      for (const item of values as DictDataset[]) {
        const body = encodeDataset(item);
        const h = Buffer.alloc(8);
        h.writeUInt16LE(0xfffe, 0);
        h.writeUInt16LE(0xe000, 2);
        h.writeUInt32LE(body.length, 4);
        itemChunks.push(h, body);
      }
      const body = Buffer.concat(itemChunks);
      chunks.push(header(tag, vr, body.length), body);
      continue;
    }
    const value = TEXT_VR.has(vr) ? textValue(vr, values) : binaryValue(vr, values);
    chunks.push(header(tag, vr, value.length), value);
  }
  return Buffer.concat(chunks);
}

/** A Part 10 file: 128-byte preamble, "DICM", the meta group with its length, the data set. */
export function encodePart10(meta: DictDataset, dataset: DictDataset): Buffer {
  const metaBody = encodeDataset(meta);
  const groupLength = Buffer.alloc(12);
  groupLength.writeUInt16LE(0x0002, 0);
  groupLength.writeUInt16LE(0x0000, 2);
  groupLength.write('UL', 4, 'latin1');
  groupLength.writeUInt16LE(4, 6);
  groupLength.writeUInt32LE(metaBody.length, 8);
  return Buffer.concat([
    Buffer.alloc(128),
    Buffer.from('DICM', 'latin1'),
    groupLength,
    metaBody,
    encodeDataset(dataset),
  ]);
}
