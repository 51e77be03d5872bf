/**
 * Sequential DCT JPEG (ITU T.81 baseline SOF0 and extended SOF1, Huffman coded) for one
 * greyscale component with 8- or 12-bit samples — the 12-bit case is what DICOM's
 * "JPEG Extended (Process 2 & 4)" transfer syntax carries, and no maintained JS/WASM
 * decoder on npm decodes it correctly (libjpeg-turbo's WASM build is 8-bit only; the
 * pdf.js-derived decoders were measured 9–15 grey levels off DCMTK's on every pixel of
 * pydicom's JPGExtended.dcm). 8-bit files still go to libjpeg-turbo (codecs.ts).
 *
 * The steps follow T.81 F.2: markers (DQT with 8- or 16-bit tables, DHT, SOF0/1, DRI,
 * SOS), Huffman decoding of DC differences and AC run/size pairs, dequantisation, an
 * 8×8 inverse DCT, level shift by 2^(P−1) and clamping. The IDCT is IJG's integer
 * "islow" algorithm, so the output matches DCMTK's dcmdjpeg sample for sample.
 * Progressive, lossless, arithmetic-coded and multi-component streams are refused.
 */

const ZIGZAG = [
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7,
  14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46,
  53, 60, 61, 54, 47, 55, 62, 63,
];

// IJG's "islow" integer IDCT (the Loeffler–Ligtenberg–Moschytz factorisation with
// 13-bit fixed-point constants, jidctint.c), the default of DCMTK and libjpeg-turbo:
// using the same arithmetic makes our samples equal to theirs, not just close. Values are
// JS doubles (exact to 2^53), so the 32-bit products of the C code cannot overflow here;
// DESCALE rounds by adding half and flooring, like the C arithmetic right shift.
const CONST_BITS = 13;
const F_0_298 = 2446;
const F_0_390 = 3196;
const F_0_541 = 4433;
const F_0_765 = 6270;
const F_0_899 = 7373;
const F_1_175 = 9633;
const F_1_501 = 12299;
const F_1_847 = 15137;
const F_1_961 = 16069;
const F_2_053 = 16819;
const F_2_562 = 20995;
const F_3_072 = 25172;

function descale(x: number, n: number): number {
  return Math.floor((x + 2 ** (n - 1)) / 2 ** n);
}

/** One 1-D 8-point IDCT over in[base + stride·i], the even/odd halves of jidctint.c. */
function idct1d(v: ArrayLike<number>, base: number, stride: number): number[] {
  const at = (i: number) => v[base + stride * i]!;
  let z2 = at(2);
  let z3 = at(6);
  let z1 = (z2 + z3) * F_0_541;
  const t2 = z1 + z3 * -F_1_847;
  const t3 = z1 + z2 * F_0_765;
  z2 = at(0);
  z3 = at(4);
  const t0 = (z2 + z3) * 2 ** CONST_BITS;
  const t1 = (z2 - z3) * 2 ** CONST_BITS;
  const t10 = t0 + t3;
  const t13 = t0 - t3;
  const t11 = t1 + t2;
  const t12 = t1 - t2;
  let o0 = at(7);
  let o1 = at(5);
  let o2 = at(3);
  let o3 = at(1);
  z1 = o0 + o3;
  z2 = o1 + o2;
  z3 = o0 + o2;
  let z4 = o1 + o3;
  const z5 = (z3 + z4) * F_1_175;
  o0 *= F_0_298;
  o1 *= F_2_053;
  o2 *= F_3_072;
  o3 *= F_1_501;
  z1 *= -F_0_899;
  z2 *= -F_2_562;
  z3 = z3 * -F_1_961 + z5;
  z4 = z4 * -F_0_390 + z5;
  o0 += z1 + z3;
  o1 += z2 + z4;
  o2 += z2 + z3;
  o3 += z1 + z4;
  return [t10 + o3, t11 + o2, t12 + o1, t13 + o0, t13 - o0, t12 - o1, t11 - o2, t10 - o3];
}

/** Dequantised coefficients (natural order) → 8×8 level-unshifted samples. */
function idctIslow(coef: Float64Array, out: Float64Array, pass1Bits: number): void {
  const ws = new Float64Array(64);
  for (let c = 0; c < 8; c++) {
    const col = idct1d(coef, c, 8);
    for (let r = 0; r < 8; r++) ws[r * 8 + c] = descale(col[r]!, CONST_BITS - pass1Bits);
  }
  for (let r = 0; r < 8; r++) {
    const row = idct1d(ws, r * 8, 1);
    for (let c = 0; c < 8; c++) out[r * 8 + c] = descale(row[c]!, CONST_BITS + pass1Bits + 3);
  }
}

interface Huffman {
  /** Canonical decoding tables (T.81 F.2.2.3): per code length 1..16. */
  maxCode: Int32Array;
  valPtr: Int32Array;
  minCode: Int32Array;
  values: Uint8Array;
}

function buildHuffman(counts: Uint8Array, values: Uint8Array): Huffman {
  const maxCode = new Int32Array(18).fill(-1);
  const valPtr = new Int32Array(17);
  const minCode = new Int32Array(17);
  let code = 0;
  let k = 0;
  for (let len = 1; len <= 16; len++) {
    const n = counts[len - 1]!;
    if (n) {
      valPtr[len] = k;
      minCode[len] = code;
      code += n;
      k += n;
      maxCode[len] = code - 1;
    }
    code <<= 1;
  }
  maxCode[17] = 0x7fffffff; // sentinel: a code longer than 16 bits is corrupt
  return { maxCode, valPtr, minCode, values };
}

export class JpegDecodeError extends Error {}

/** Decodes a single-component sequential DCT JPEG to samples (Uint16, row-major). */
export function decodeJpegDct(data: Uint8Array): {
  width: number;
  height: number;
  precision: number;
  samples: Uint16Array;
} {
  const quant: Array<Int32Array | undefined> = [];
  const dcTables: Array<Huffman | undefined> = [];
  const acTables: Array<Huffman | undefined> = [];
  let width = 0;
  let height = 0;
  let precision = 8;
  let quantIndex = 0;
  let restartInterval = 0;
  let samples: Uint16Array | undefined;
  let pos = 0;
  const u16 = (p: number) => (data[p]! << 8) | data[p + 1]!;
  if (u16(0) !== 0xffd8) throw new JpegDecodeError('no SOI marker');
  pos = 2;
  while (pos + 4 <= data.length) {
    if (data[pos] !== 0xff) throw new JpegDecodeError(`expected a marker at byte ${pos}`);
    const marker = data[pos + 1]!;
    if (marker === 0xff) {
      pos++; // fill byte
      continue;
    }
    if (marker === 0xd9) break; // EOI
    const length = u16(pos + 2);
    const seg = pos + 4;
    const end = pos + 2 + length;
    if (end > data.length) throw new JpegDecodeError('segment runs past the end of the stream');
    switch (marker) {
      case 0xdb: {
        for (let p = seg; p < end; ) {
          const pq = data[p]! >> 4;
          const tq = data[p]! & 15;
          p++;
          const table = new Int32Array(64);
          for (let i = 0; i < 64; i++) {
            table[i] = pq ? u16(p) : data[p]!;
            p += pq ? 2 : 1;
          }
          quant[tq] = table;
        }
        break;
      }
      case 0xc4: {
        for (let p = seg; p < end; ) {
          const tc = data[p]! >> 4;
          const th = data[p]! & 15;
          const counts = data.subarray(p + 1, p + 17);
          const total = counts.reduce((a, b) => a + b, 0);
          const values = data.slice(p + 17, p + 17 + total);
          (tc === 0 ? dcTables : acTables)[th] = buildHuffman(counts, values);
          p += 17 + total;
        }
        break;
      }
      case 0xc0:
      case 0xc1: {
        precision = data[seg]!;
        height = u16(seg + 1);
        width = u16(seg + 3);
        const components = data[seg + 5]!;
        if (components !== 1)
          throw new JpegDecodeError(`${components} components; only greyscale is supported`);
        if (precision !== 8 && precision !== 12) throw new JpegDecodeError(`sample precision ${precision}`);
        if (!width || !height) throw new JpegDecodeError('zero image size (DNL not supported)');
        quantIndex = data[seg + 8]!;
        break;
      }
      case 0xc2:
      case 0xc3:
      case 0xc5:
      case 0xc6:
      case 0xc7:
      case 0xc9:
      case 0xca:
      case 0xcb:
      case 0xcd:
      case 0xce:
      case 0xcf:
        throw new JpegDecodeError(
          `SOF${marker - 0xc0} (progressive, lossless, hierarchical or arithmetic) is not a sequential Huffman DCT stream`,
        );
      case 0xdd:
        restartInterval = u16(seg);
        break;
      case 0xda: {
        if (!width) throw new JpegDecodeError('SOS before SOF');
        const td = data[seg + 2]! >> 4;
        const ta = data[seg + 2]! & 15;
        const dc = dcTables[td];
        const ac = acTables[ta];
        const q = quant[quantIndex];
        if (!dc || !ac || !q)
          throw new JpegDecodeError('scan uses an undefined Huffman or quantisation table');
        const result = decodeScan(data, end, width, height, precision, dc, ac, q, restartInterval);
        samples = result.samples;
        pos = result.next;
        continue;
      }
      default:
        break; // APPn, COM, DNL…: skip
    }
    pos = end;
  }
  if (!samples) throw new JpegDecodeError('no scan in the stream');
  return { width, height, precision, samples };
}

function decodeScan(
  data: Uint8Array,
  start: number,
  width: number,
  height: number,
  precision: number,
  dc: Huffman,
  ac: Huffman,
  q: Int32Array,
  restartInterval: number,
): { samples: Uint16Array; next: number } {
  let pos = start;
  let bitBuf = 0;
  let bitCount = 0;
  let hitMarker = false;
  const readBit = (): number => {
    if (bitCount === 0) {
      let byte = 0;
      if (!hitMarker && pos < data.length) {
        byte = data[pos]!;
        if (byte === 0xff) {
          const next = data[pos + 1];
          if (next === 0) pos += 2;
          else {
            hitMarker = true; // a marker: feed zeros, as decoders do for a short segment
            byte = 0;
          }
        } else pos++;
      }
      bitBuf = byte;
      bitCount = 8;
    }
    bitCount--;
    return (bitBuf >> bitCount) & 1;
  };
  const receive = (n: number): number => {
    let v = 0;
    for (let i = 0; i < n; i++) v = (v << 1) | readBit();
    return v;
  };
  const extend = (v: number, n: number) => (n === 0 ? 0 : v < 1 << (n - 1) ? v - (1 << n) + 1 : v);
  const decode = (h: Huffman): number => {
    let code = readBit();
    let len = 1;
    while (code > h.maxCode[len]!) {
      code = (code << 1) | readBit();
      len++;
      if (len > 16) throw new JpegDecodeError('corrupt Huffman code');
    }
    return h.values[h.valPtr[len]! + code - h.minCode[len]!]!;
  };
  const blocksX = Math.ceil(width / 8);
  const blocksY = Math.ceil(height / 8);
  const samples = new Uint16Array(width * height);
  const coef = new Float64Array(64);
  const tmp = new Float64Array(64);
  const pass1Bits = precision === 8 ? 2 : 1; // IJG: PASS1_BITS is 1 for 12-bit samples
  const shift = 1 << (precision - 1);
  const max = (1 << precision) - 1;
  let pred = 0;
  let mcu = 0;
  for (let by = 0; by < blocksY; by++) {
    for (let bx = 0; bx < blocksX; bx++, mcu++) {
      if (restartInterval && mcu > 0 && mcu % restartInterval === 0) {
        // Byte-align and step over the RSTn marker.
        bitCount = 0;
        hitMarker = false;
        while (
          pos + 1 < data.length &&
          !(data[pos] === 0xff && data[pos + 1]! >= 0xd0 && data[pos + 1]! <= 0xd7)
        )
          pos++;
        pos += 2;
        pred = 0;
      }
      coef.fill(0);
      const s = decode(dc);
      pred += extend(receive(s), s);
      coef[0] = pred * q[0]!;
      for (let k = 1; k < 64; ) {
        const rs = decode(ac);
        const r = rs >> 4;
        const size = rs & 15;
        if (size === 0) {
          if (r !== 15) break;
          k += 16;
          continue;
        }
        k += r;
        if (k > 63) throw new JpegDecodeError('AC coefficient index past 63');
        coef[ZIGZAG[k]!] = extend(receive(size), size) * q[k]!;
        k++;
      }
      idctIslow(coef, tmp, pass1Bits);
      for (let y = 0; y < 8; y++) {
        const py = by * 8 + y;
        if (py >= height) break;
        for (let x = 0; x < 8; x++) {
          const px = bx * 8 + x;
          if (px >= width) break;
          const val = tmp[y * 8 + x]! + shift;
          samples[py * width + px] = val < 0 ? 0 : Math.min(val, max);
        }
      }
    }
  }
  // Continue marker parsing after the entropy-coded segment.
  while (
    pos + 1 < data.length &&
    !(data[pos] === 0xff && data[pos + 1] !== 0 && !(data[pos + 1]! >= 0xd0 && data[pos + 1]! <= 0xd7))
  )
    pos++;
  return { samples, next: pos };
}
