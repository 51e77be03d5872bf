/**
 * lib/onnx/protobuf.ts, the reading half: whatever ProtoWriter encodes, readVarint and
 * readFields split back into the same numbers and spans, and cut-off or malformed bytes
 * raise MalformedProtobuf instead of reading past the buffer.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MalformedProtobuf, ProtoWriter, readFields, readVarint, WireType } from '../lib/onnx/protobuf';

describe('readVarint', () => {
  it('decodes what ProtoWriter.varint encodes, for every safe non-negative integer', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (n) => {
        const bytes = new ProtoWriter().varint(n).finish();
        expect(readVarint(bytes, 0)).toEqual({ value: n, next: bytes.length });
      }),
    );
  });

  it('starts at the given position and stops after the last byte of the varint', () => {
    const bytes = Uint8Array.of(0xff, 0xac, 0x02, 0x07);
    expect(readVarint(bytes, 1)).toEqual({ value: 300, next: 3 });
  });

  it('refuses a varint cut off by the limit or longer than 10 bytes', () => {
    expect(() => readVarint(Uint8Array.of(0xac, 0x02), 0, 1)).toThrow(MalformedProtobuf);
    expect(() => readVarint(Uint8Array.of(0x80), 0)).toThrow(/truncated varint at byte 0/);
    expect(() => readVarint(new Uint8Array(11).fill(0x80), 0)).toThrow(/longer than 10 bytes/);
  });
});

describe('readFields', () => {
  it('returns each field with its number, wire type and byte spans, in order', () => {
    const bytes = new ProtoWriter().int64(1, 300).string(2, 'abc').float(3, 1.5).double(4, -2).finish();
    const fields = readFields(bytes);
    expect(fields.map((f) => [f.field, f.wire])).toEqual([
      [1, WireType.VARINT],
      [2, WireType.LENGTH_DELIMITED],
      [3, WireType.FIXED32],
      [4, WireType.FIXED64],
    ]);
    // The spans tile the message exactly.
    expect(fields[0]!.start).toBe(0);
    for (let i = 1; i < fields.length; i++) expect(fields[i]!.start).toBe(fields[i - 1]!.end);
    expect(fields.at(-1)!.end).toBe(bytes.length);
    const text = fields[1]!;
    expect(new TextDecoder().decode(bytes.subarray(text.dataStart, text.dataEnd))).toBe('abc');
    expect(new DataView(bytes.buffer).getFloat32(fields[2]!.end - 4, true)).toBe(1.5);
  });

  it('reads nested messages through their payload span', () => {
    const bytes = new ProtoWriter().message(7, (w) => w.string(1, 'inner').int64(2, 17)).finish();
    const [outer] = readFields(bytes);
    const inner = readFields(bytes, outer!.dataStart, outer!.dataEnd);
    expect(inner.map((f) => f.field)).toEqual([1, 2]);
    expect(readVarint(bytes, inner[1]!.dataStart).value).toBe(17);
  });

  it('refuses field number 0, groups and a payload that runs past the message', () => {
    expect(() => readFields(Uint8Array.of(0x00, 0x01))).toThrow(/field number 0/);
    // Field 1, wire type 3 (start group).
    expect(() => readFields(Uint8Array.of(0x0b))).toThrow(/unsupported wire type 3/);
    const text = new ProtoWriter().string(1, 'abcdef').finish();
    expect(() => readFields(text, 0, text.length - 1)).toThrow(/runs past the end of its message/);
    expect(() => readFields(text.subarray(0, 1))).toThrow(MalformedProtobuf);
  });
});
