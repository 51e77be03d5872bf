/**
 * Reads the top-level header fields of an ONNX ModelProto (IR version, producer, opset
 * imports) straight from the file, for `p2sam inspect`.
 *
 * The graph (field 7) holds the weights and can be gigabytes, and protobuf writers emit
 * fields in field-number order, so opset_import (field 8) usually comes *after* it. The
 * reader therefore walks the top-level fields with positioned reads and jumps over
 * length-delimited payloads it does not need: the cost is a few small reads whatever the
 * model's size.
 *
 * ModelProto fields used (onnx.proto): 1 ir_version (varint), 2 producer_name (string),
 * 3 producer_version (string), 7 graph (message, skipped), 8 opset_import (repeated
 * OperatorSetIdProto { 1 domain: string, 2 version: int64 }).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { MalformedProtobuf, type ProtoField, readFields, readVarint, WireType } from './protobuf';

export interface OnnxHeader {
  irVersion?: number;
  producer?: string;
  producerVersion?: string;
  /** '' / 'ai.onnx' is the default operator domain. */
  opsets: { domain: string; version: number }[];
}

class FileCursor {
  #fd: number;
  readonly size: number;
  pos = 0;
  #buf = Buffer.alloc(64 * 1024);
  #bufStart = 0;
  #bufLen = 0;

  constructor(fd: number) {
    this.#fd = fd;
    this.size = fstatSync(fd).size;
  }

  /** Reads the window starting at `pos`. */
  #fill(): void {
    this.#bufStart = this.pos;
    this.#bufLen = readSync(this.#fd, this.#buf, 0, this.#buf.length, this.pos);
    if (this.#bufLen <= 0) throw new Error('unexpected end of file');
  }

  /**
   * Varints up to 2^53 are exact, which covers every length and version we read. The
   * window is refilled first whenever fewer than a varint's 10 bytes remain in it, so
   * the shared decoder sees every byte the varint can have.
   */
  varint(): number {
    if (this.pos >= this.size) throw new Error('unexpected end of file');
    const windowEnd = this.#bufStart + this.#bufLen;
    if (this.pos < this.#bufStart || this.pos + 10 > windowEnd) this.#fill();
    try {
      const { value, next } = readVarint(this.#buf, this.pos - this.#bufStart, this.#bufLen);
      this.pos = this.#bufStart + next;
      return value;
    } catch (e) {
      if (!(e instanceof MalformedProtobuf)) throw e;
      throw new Error(
        this.#bufStart + this.#bufLen >= this.size ? 'unexpected end of file' : 'malformed varint',
      );
    }
  }

  bytes(n: number): Buffer {
    if (this.pos + n > this.size) throw new Error('field runs past the end of the file');
    const out = Buffer.alloc(n);
    let done = 0;
    while (done < n) {
      const r = readSync(this.#fd, out, done, n - done, this.pos + done);
      if (r <= 0) throw new Error('unexpected end of file');
      done += r;
    }
    this.pos += n;
    return out;
  }

  skip(n: number): void {
    if (this.pos + n > this.size) throw new Error('field runs past the end of the file');
    this.pos += n;
  }
}

function parseOpset(buf: Buffer): { domain: string; version: number } {
  let domain = '';
  let version = 0;
  let entries: ProtoField[];
  try {
    entries = readFields(buf);
  } catch (e) {
    if (e instanceof MalformedProtobuf) throw new Error(`malformed opset entry (${e.message})`);
    throw e;
  }
  for (const f of entries) {
    if (f.field === 1 && f.wire === WireType.LENGTH_DELIMITED)
      domain = buf.subarray(f.dataStart, f.dataEnd).toString('utf8');
    else if (f.field === 2 && f.wire === WireType.VARINT) version = readVarint(buf, f.dataStart).value;
  }
  return { domain, version };
}

/** Parses the header; throws with a short reason when the file is not a ModelProto. */
export function readOnnxHeader(file: string): OnnxHeader {
  const fd = openSync(file, 'r');
  try {
    const c = new FileCursor(fd);
    const h: OnnxHeader = { opsets: [] };
    while (c.pos < c.size) {
      const tag = c.varint();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (field === 0) throw new Error('field number 0');
      if (wire === 0) {
        const v = c.varint();
        if (field === 1) h.irVersion = v;
      } else if (wire === 2) {
        const n = c.varint();
        if (field === 2 || field === 3) {
          const s = c.bytes(n).toString('utf8');
          if (field === 2) h.producer = s;
          else h.producerVersion = s;
        } else if (field === 8) {
          h.opsets.push(parseOpset(c.bytes(n)));
        } else {
          c.skip(n);
        }
      } else if (wire === 1) c.skip(8);
      else if (wire === 5) c.skip(4);
      else throw new Error(`unsupported wire type ${wire}`);
    }
    return h;
  } finally {
    closeSync(fd);
  }
}

/** `ai.onnx 17`, `ai.onnx 17, com.microsoft 1`. */
export function formatOpsets(opsets: OnnxHeader['opsets']): string {
  if (opsets.length === 0) return '?';
  return opsets.map((o) => `${o.domain === '' ? 'ai.onnx' : o.domain} ${o.version}`).join(', ');
}
