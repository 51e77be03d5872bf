/**
 * A minimal, dependency-free Protocol Buffers codec (wire format only): `ProtoWriter`
 * to encode, `readVarint` / `readFields` to split encoded bytes back into fields. This is
 * the project's one varint codec; graph.ts, prune.ts and header.ts build on it.
 *
 * It knows nothing about schemas: callers emit fields in the order they like with the
 * field numbers of the message they are encoding (see graph.ts for ONNX), and interpret
 * the fields they read by number. Only the four wire types that proto2/proto3 still use
 * are supported:
 *   0 = varint (int32/int64/uint64/bool/enum), 1 = fixed 64-bit (double),
 *   2 = length-delimited (bytes, string, sub-message), 5 = fixed 32-bit (float).
 *
 * Output is deterministic: the same sequence of calls always yields the same bytes, and
 * numbers are written little-endian through DataView regardless of the host's byte order.
 */

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

/** Largest field number protobuf allows (29 bits). */
const MAX_FIELD_NUMBER = 0x1fffffff;

const TWO_POW_64 = 1n << 64n;
const INT64_MIN = -(1n << 63n);
const UINT64_MAX = TWO_POW_64 - 1n;

const utf8 = new TextEncoder();

function checkFieldNumber(field: number): void {
  if (!Number.isInteger(field) || field < 1 || field > MAX_FIELD_NUMBER) {
    throw new RangeError(
      `protobuf field number: expected an integer in 1..${MAX_FIELD_NUMBER}, received ${String(field)}`,
    );
  }
}

/**
 * Converts an integer (number or bigint) to the unsigned 64-bit pattern protobuf puts on
 * the wire. Negative values become their two's-complement form, which is how protobuf
 * encodes negative int32/int64 (always 10 bytes as a varint).
 */
function toUint64(value: number | bigint, what: string): bigint {
  let big: bigint;
  if (typeof value === 'bigint') {
    big = value;
  } else {
    if (!Number.isSafeInteger(value)) {
      throw new RangeError(`${what}: expected a safe integer (or a bigint), received ${String(value)}`);
    }
    big = BigInt(value);
  }
  if (big < INT64_MIN || big > UINT64_MAX) {
    throw new RangeError(`${what}: expected a value representable in 64 bits, received ${big.toString()}`);
  }
  return big < 0n ? big + TWO_POW_64 : big;
}

export class ProtoWriter {
  private buf: Uint8Array;
  private view: DataView;
  private len = 0;

  constructor(initialCapacity = 256) {
    if (!Number.isInteger(initialCapacity) || initialCapacity < 1) {
      throw new RangeError(
        `initialCapacity: expected a positive integer, received ${String(initialCapacity)}`,
      );
    }
    this.buf = new Uint8Array(initialCapacity);
    this.view = new DataView(this.buf.buffer);
  }

  /** Number of bytes written so far. */
  get length(): number {
    return this.len;
  }

  private ensure(extra: number): void {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** Raw base-128 varint (no tag). */
  varint(value: number | bigint): this {
    // Fast path for the small non-negative numbers that dominate ONNX (tags, lengths, dims).
    if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < 0x80000000) {
      this.ensure(5);
      let v = value;
      while (v >= 0x80) {
        this.buf[this.len++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      this.buf[this.len++] = v;
      return this;
    }
    let v = toUint64(value, 'varint value');
    this.ensure(10);
    while (v >= 0x80n) {
      this.buf[this.len++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.len++] = Number(v);
    return this;
  }

  /** Field key: (field number << 3) | wire type. */
  tag(field: number, wireType: number): this {
    checkFieldNumber(field);
    // field <= 2^29-1 so field*8+7 < 2^32: use arithmetic rather than << to stay unsigned.
    return this.varint(field * 8 + wireType);
  }

  /** int32 / int64 / uint64 / enum field (negative values take 10 bytes, as protobuf specifies). */
  int64(field: number, value: number | bigint): this {
    return this.tag(field, WIRE_VARINT).varint(value);
  }

  bool(field: number, value: boolean): this {
    return this.tag(field, WIRE_VARINT).varint(value ? 1 : 0);
  }

  /** `float` field: IEEE-754 single, little-endian. */
  float(field: number, value: number): this {
    this.tag(field, WIRE_FIXED32);
    this.ensure(4);
    this.view.setFloat32(this.len, value, true);
    this.len += 4;
    return this;
  }

  /** `double` field: IEEE-754 double, little-endian. */
  double(field: number, value: number): this {
    this.tag(field, WIRE_FIXED64);
    this.ensure(8);
    this.view.setFloat64(this.len, value, true);
    this.len += 8;
    return this;
  }

  /** `bytes` field, or an already-encoded sub-message. */
  bytes(field: number, data: Uint8Array): this {
    this.tag(field, WIRE_LENGTH_DELIMITED).varint(data.length);
    this.ensure(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
    return this;
  }

  /** `string` field, UTF-8 encoded. */
  string(field: number, value: string): this {
    return this.bytes(field, utf8.encode(value));
  }

  /**
   * Sub-message field. The body is written into a scratch writer first because the
   * length prefix precedes it and is not known in advance.
   */
  message(field: number, body: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    body(inner);
    return this.bytes(field, inner.finish());
  }

  /** A copy of the bytes written so far (the writer stays usable). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

export const WireType = {
  VARINT: WIRE_VARINT,
  FIXED64: WIRE_FIXED64,
  LENGTH_DELIMITED: WIRE_LENGTH_DELIMITED,
  FIXED32: WIRE_FIXED32,
} as const;

/** Thrown by the reader for bytes that are not well-formed protobuf; callers word it for their input. */
export class MalformedProtobuf extends Error {
  override name = 'MalformedProtobuf';
}

/**
 * Decodes the base-128 varint at `buf[pos]`, reading nothing at or past `limit`.
 *
 * Multiplication instead of shifts: lengths and tags may exceed 2^31 in theory and JS
 * shifts are 32-bit. Values above 2^53 (only int64 payloads, which the readers here never
 * interpret) lose precision.
 *
 * @returns the value and the position just past it.
 * @throws MalformedProtobuf for a varint cut off by `limit` or longer than 10 bytes.
 * @example
 * readVarint(Uint8Array.of(0xac, 0x02), 0); // { value: 300, next: 2 }
 */
export function readVarint(
  buf: Uint8Array,
  pos: number,
  limit: number = buf.length,
): { value: number; next: number } {
  let value = 0;
  let scale = 1;
  let p = pos;
  for (let i = 0; i < 10; i++) {
    if (p >= limit) throw new MalformedProtobuf(`truncated varint at byte ${pos}`);
    const b = buf[p++]!;
    value += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) return { value, next: p };
    scale *= 128;
  }
  throw new MalformedProtobuf(`varint longer than 10 bytes at byte ${pos}`);
}

/** One field of a message as `readFields` finds it: its number, wire type and exact byte spans. */
export interface ProtoField {
  field: number;
  wire: number;
  /** Span of the whole field (tag through payload) in the buffer. */
  start: number;
  end: number;
  /** Payload span of a length-delimited field (empty for the other wire types). */
  dataStart: number;
  dataEnd: number;
}

/**
 * Splits `buf[start, end)` into its top-level fields without interpreting payloads, so a
 * caller can look into the few it needs and copy the rest through byte for byte.
 *
 * @throws MalformedProtobuf for field number 0, a group (wire types 3/4, proto1-era and
 *   absent from ONNX files) or a field that runs past `end`.
 * @example
 * const w = new ProtoWriter().string(1, 'x').int64(2, 17);
 * readFields(w.finish()).map((f) => f.field); // [1, 2]
 */
export function readFields(buf: Uint8Array, start = 0, end: number = buf.length): ProtoField[] {
  const out: ProtoField[] = [];
  let pos = start;
  while (pos < end) {
    const fieldStart = pos;
    const tag = readVarint(buf, pos, end);
    pos = tag.next;
    const field = Math.floor(tag.value / 8);
    const wire = tag.value % 8;
    if (field === 0) throw new MalformedProtobuf(`field number 0 at byte ${fieldStart}`);
    let dataStart = pos;
    let dataEnd = pos;
    switch (wire) {
      case WIRE_VARINT:
        pos = readVarint(buf, pos, end).next;
        break;
      case WIRE_FIXED64:
        pos += 8;
        break;
      case WIRE_FIXED32:
        pos += 4;
        break;
      case WIRE_LENGTH_DELIMITED: {
        const len = readVarint(buf, pos, end);
        dataStart = len.next;
        dataEnd = dataStart + len.value;
        pos = dataEnd;
        break;
      }
      default:
        throw new MalformedProtobuf(`unsupported wire type ${wire} (field ${field}) at byte ${fieldStart}`);
    }
    if (pos > end)
      throw new MalformedProtobuf(
        `field ${field} at byte ${fieldStart} runs past the end of its message (byte ${end})`,
      );
    out.push({ field, wire, start: fieldStart, end: pos, dataStart, dataEnd });
  }
  return out;
}
