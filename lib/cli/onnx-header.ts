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

  byte(): number {
    if (this.pos >= this.size) throw new Error('unexpected end of file');
    if (this.pos < this.#bufStart || this.pos >= this.#bufStart + this.#bufLen) {
      this.#bufStart = this.pos;
      this.#bufLen = readSync(this.#fd, this.#buf, 0, this.#buf.length, this.pos);
      if (this.#bufLen <= 0) throw new Error('unexpected end of file');
    }
    return this.#buf[this.pos++ - this.#bufStart]!;
  }

  /** Varints up to 2^53 are exact, which covers every length and version we read. */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
    throw new Error('malformed varint');
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
  let i = 0;
  const varint = (): number => {
    let r = 0;
    let s = 1;
    for (let k = 0; k < 10; k++) {
      const b = buf[i++];
      if (b === undefined) throw new Error('truncated opset entry');
      r += (b & 0x7f) * s;
      if ((b & 0x80) === 0) return r;
      s *= 128;
    }
    throw new Error('malformed varint');
  };
  while (i < buf.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === 2) {
      const n = varint();
      domain = buf.subarray(i, i + n).toString('utf8');
      i += n;
    } else if (field === 2 && wire === 0) {
      version = varint();
    } else if (wire === 0) varint();
    else if (wire === 2) i += varint();
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else throw new Error(`unsupported wire type ${wire}`);
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
