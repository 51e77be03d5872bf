/**
 * ONNX model serialisation on top of the wire-format writer in protobuf.ts.
 *
 * Two layers:
 *  - plain data specs (ModelSpec / GraphSpec / NodeSpec / TensorSpec / ValueInfoSpec)
 *    and `encodeModel`, which turns a spec into ModelProto bytes, optionally moving large
 *    initializers into a separate external-data blob (the layout big SAM exports use);
 *  - `GraphBuilder`, a small helper that hands out unique value names so graph code reads
 *    like a sequence of op calls.
 *
 * Why one file of ~650 lines: the spec types, their encoder and the builder that emits them
 * change together whenever a field is added; apart, each would restate the others' shapes.
 *
 * Field numbers follow onnx/onnx.proto (proto2). Repeated scalar fields that onnx.proto
 * does not mark `packed` (dims, ints, floats) are written unpacked, which every protobuf
 * parser accepts. Tensor payloads always go to `raw_data` (little-endian), never to the
 * typed `*_data` fields.
 */

import { ProtoWriter } from './protobuf';

// ---------------------------------------------------------------------------------------
// Specs

/** Element types this writer can emit, named like onnxruntime's JS tensor types. */
export type ElemType = 'float32' | 'float64' | 'float16' | 'int8' | 'uint8' | 'int32' | 'int64' | 'bool';

/** TensorProto.DataType codes (onnx.proto). */
export const ONNX_DATA_TYPE: Readonly<Record<ElemType, number>> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
};

const ELEM_BYTES: Readonly<Record<ElemType, number>> = {
  float32: 4,
  float64: 8,
  float16: 2,
  int8: 1,
  uint8: 1,
  int32: 4,
  int64: 8,
  bool: 1,
};

/**
 * Tensor payload. Plain arrays are accepted for convenience; float16 data must be given
 * as the raw 16-bit patterns (Uint16Array) because JS has no half-precision type.
 */
export type TensorData =
  | Float32Array
  | Float64Array
  | Int32Array
  | Uint8Array
  | Int8Array
  | Uint16Array
  | BigInt64Array
  | readonly number[]
  | readonly bigint[]
  | readonly boolean[];

export interface TensorSpec {
  name: string;
  type: ElemType;
  /** Empty array = scalar (0-d tensor, one element). */
  dims: readonly number[];
  data: TensorData;
  docString?: string;
}

/** A dimension: fixed size, symbolic name (`dim_param`), or `null` for "unknown". */
export type Dim = number | string | null;

export interface ValueInfoSpec {
  name: string;
  type: ElemType;
  /** `undefined` = rank unknown (no shape field at all). */
  shape?: readonly Dim[];
  docString?: string;
}

export type AttributeValue =
  | { kind: 'int'; value: number | bigint }
  | { kind: 'float'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'ints'; value: readonly (number | bigint)[] }
  | { kind: 'floats'; value: readonly number[] }
  | { kind: 'strings'; value: readonly string[] }
  | { kind: 'tensor'; value: TensorSpec }
  | { kind: 'graph'; value: GraphSpec };

/**
 * Attribute shorthand: an integer number means INT, a string means STRING and an array of
 * integers means INTS. Floats must be spelled out with `attr.float(...)` / `attr.floats(...)`
 * because `1` and `1.0` are the same JS value.
 */
export type AttributeInput = AttributeValue | number | string | readonly number[];

export interface NodeSpec {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
  /** Operator domain; '' (the default) is the standard ai.onnx domain. */
  domain?: string;
  attributes?: Readonly<Record<string, AttributeInput>>;
  docString?: string;
}

export interface GraphSpec {
  name: string;
  nodes: readonly NodeSpec[];
  inputs: readonly ValueInfoSpec[];
  outputs: readonly ValueInfoSpec[];
  initializers?: readonly TensorSpec[];
  valueInfo?: readonly ValueInfoSpec[];
  docString?: string;
}

export interface OpsetImport {
  domain: string;
  version: number;
}

export interface ModelSpec {
  graph: GraphSpec;
  /** Defaults to 8 (ONNX 1.10+, understood by every current runtime). */
  irVersion?: number;
  /** Defaults to the standard domain at opset 17. */
  opsetImports?: readonly OpsetImport[];
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  /** ModelProto.metadata_props, written in key order so output stays deterministic. */
  metadata?: Readonly<Record<string, string>>;
}

export interface ExternalDataOptions {
  /**
   * File name written into each external TensorProto's `location`. ONNX resolves it
   * relative to the directory of the .onnx file, so it must be a relative path.
   */
  location: string;
  /** Initializers whose payload is at least this many bytes go external. Default 1024. */
  minBytes?: number;
  /** Each payload starts at a multiple of this in the data file. Default 4096 (a page,
   * which lets runtimes memory-map the payload in place). */
  alignment?: number;
}

export interface EncodedModel {
  /** ModelProto bytes. */
  model: Uint8Array;
  /** Concatenated external payloads, or null when nothing was moved out. */
  externalData: Uint8Array | null;
}

export const attr = {
  int: (value: number | bigint): AttributeValue => ({ kind: 'int', value }),
  float: (value: number): AttributeValue => ({ kind: 'float', value }),
  string: (value: string): AttributeValue => ({ kind: 'string', value }),
  ints: (value: readonly (number | bigint)[]): AttributeValue => ({ kind: 'ints', value }),
  floats: (value: readonly number[]): AttributeValue => ({ kind: 'floats', value }),
  strings: (value: readonly string[]): AttributeValue => ({ kind: 'strings', value }),
  tensor: (value: TensorSpec): AttributeValue => ({ kind: 'tensor', value }),
  graph: (value: GraphSpec): AttributeValue => ({ kind: 'graph', value }),
};

// ---------------------------------------------------------------------------------------
// Field numbers (onnx.proto)

const F_MODEL = {
  irVersion: 1,
  producerName: 2,
  producerVersion: 3,
  domain: 4,
  modelVersion: 5,
  docString: 6,
  graph: 7,
  opsetImport: 8,
  metadataProps: 14,
} as const;
const F_OPSET = { domain: 1, version: 2 } as const;
const F_GRAPH = {
  node: 1,
  name: 2,
  initializer: 5,
  docString: 10,
  input: 11,
  output: 12,
  valueInfo: 13,
} as const;
const F_NODE = { input: 1, output: 2, name: 3, opType: 4, attribute: 5, docString: 6, domain: 7 } as const;
const F_ATTR = { name: 1, f: 2, i: 3, s: 4, t: 5, g: 6, floats: 7, ints: 8, strings: 9, type: 20 } as const;
const ATTR_TYPE = {
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
} as const;
const F_TENSOR = {
  dims: 1,
  dataType: 2,
  name: 8,
  rawData: 9,
  docString: 12,
  externalData: 13,
  dataLocation: 14,
} as const;
const TENSOR_LOCATION_EXTERNAL = 1;
const F_ENTRY = { key: 1, value: 2 } as const;
const F_VALUE_INFO = { name: 1, type: 2, docString: 3 } as const;
const F_TYPE = { tensorType: 1 } as const;
const F_TYPE_TENSOR = { elemType: 1, shape: 2 } as const;
const F_SHAPE = { dim: 1 } as const;
const F_DIM = { value: 1, param: 2 } as const;

// ---------------------------------------------------------------------------------------
// Tensors

function elementCount(dims: readonly number[], what: string): number {
  let n = 1;
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new RangeError(`${what}.dims: expected non-negative integers, received [${dims.join(', ')}]`);
    }
    n *= d;
  }
  return n;
}

/** Serialises tensor data to little-endian bytes, checking the element count. */
export function tensorRawBytes(tensor: TensorSpec): Uint8Array {
  const what = `tensor "${tensor.name}"`;
  const type = tensor.type;
  if (!(type in ELEM_BYTES)) {
    throw new TypeError(
      `${what}.type: expected one of ${Object.keys(ELEM_BYTES).join(', ')}, received ${String(type)}`,
    );
  }
  const count = elementCount(tensor.dims, what);
  const data = tensor.data;
  if (data.length !== count) {
    throw new RangeError(
      `${what}.data: expected ${count} elements for dims [${tensor.dims.join(', ')}], received ${data.length}`,
    );
  }
  const out = new Uint8Array(count * ELEM_BYTES[type]);
  const view = new DataView(out.buffer);
  for (let i = 0; i < count; i++) {
    const v = data[i] as number | bigint | boolean;
    switch (type) {
      case 'float32':
        view.setFloat32(i * 4, Number(v), true);
        break;
      case 'float64':
        view.setFloat64(i * 8, Number(v), true);
        break;
      case 'float16':
        view.setUint16(i * 2, Number(v), true);
        break;
      case 'int8':
        view.setInt8(i, Number(v));
        break;
      case 'uint8':
        view.setUint8(i, Number(v));
        break;
      case 'bool':
        view.setUint8(i, v ? 1 : 0);
        break;
      case 'int32':
        view.setInt32(i * 4, Number(v), true);
        break;
      case 'int64': {
        const big = typeof v === 'bigint' ? v : BigInt(Number(v));
        view.setBigInt64(i * 8, big, true);
        break;
      }
    }
  }
  return out;
}

interface ExternalRef {
  location: string;
  offset: number;
  length: number;
}

function writeTensor(w: ProtoWriter, t: TensorSpec, raw: Uint8Array, external: ExternalRef | null): void {
  for (const d of t.dims) w.int64(F_TENSOR.dims, d);
  w.int64(F_TENSOR.dataType, ONNX_DATA_TYPE[t.type]);
  w.string(F_TENSOR.name, t.name);
  if (t.docString) w.string(F_TENSOR.docString, t.docString);
  if (external) {
    // Keys as defined by the ONNX external-data spec; offsets/lengths are decimal strings.
    const entries: [string, string][] = [
      ['location', external.location],
      ['offset', String(external.offset)],
      ['length', String(external.length)],
    ];
    for (const [key, value] of entries) {
      w.message(F_TENSOR.externalData, (e) => e.string(F_ENTRY.key, key).string(F_ENTRY.value, value));
    }
    w.int64(F_TENSOR.dataLocation, TENSOR_LOCATION_EXTERNAL);
  } else {
    w.bytes(F_TENSOR.rawData, raw);
  }
}

// ---------------------------------------------------------------------------------------
// Value infos, attributes, nodes

function writeValueInfo(w: ProtoWriter, v: ValueInfoSpec): void {
  if (!(v.type in ONNX_DATA_TYPE)) {
    throw new TypeError(
      `value "${v.name}".type: expected one of ${Object.keys(ONNX_DATA_TYPE).join(', ')}, received ${String(v.type)}`,
    );
  }
  w.string(F_VALUE_INFO.name, v.name);
  w.message(F_VALUE_INFO.type, (tp) =>
    tp.message(F_TYPE.tensorType, (tt) => {
      tt.int64(F_TYPE_TENSOR.elemType, ONNX_DATA_TYPE[v.type]);
      if (v.shape !== undefined) {
        const shape = v.shape;
        tt.message(F_TYPE_TENSOR.shape, (sh) => {
          for (const d of shape) {
            sh.message(F_SHAPE.dim, (dm) => {
              if (typeof d === 'number') {
                if (!Number.isSafeInteger(d) || d < 0) {
                  throw new RangeError(
                    `value "${v.name}".shape: expected non-negative integer, string or null dims, received ${String(d)}`,
                  );
                }
                dm.int64(F_DIM.value, d);
              } else if (typeof d === 'string') {
                dm.string(F_DIM.param, d);
              }
              // null: an empty Dimension message, i.e. an unknown, unnamed size.
            });
          }
        });
      }
    }),
  );
  if (v.docString) w.string(F_VALUE_INFO.docString, v.docString);
}

function normaliseAttribute(name: string, a: AttributeInput): AttributeValue {
  if (typeof a === 'number') {
    if (!Number.isSafeInteger(a)) {
      throw new TypeError(
        `attribute "${name}": a plain number means INT and must be an integer, received ${a}; use attr.float() for floats`,
      );
    }
    return { kind: 'int', value: a };
  }
  if (typeof a === 'string') return { kind: 'string', value: a };
  if (Array.isArray(a)) {
    for (const x of a as readonly number[]) {
      if (!Number.isSafeInteger(x)) {
        throw new TypeError(
          `attribute "${name}": a plain array means INTS and must hold integers, received ${String(x)}; use attr.floats() for floats`,
        );
      }
    }
    return { kind: 'ints', value: a as readonly number[] };
  }
  return a as AttributeValue;
}

function writeAttribute(w: ProtoWriter, name: string, input: AttributeInput, ctx: EncodeContext): void {
  const a = normaliseAttribute(name, input);
  w.string(F_ATTR.name, name);
  switch (a.kind) {
    case 'int':
      w.int64(F_ATTR.i, a.value).int64(F_ATTR.type, ATTR_TYPE.INT);
      break;
    case 'float':
      w.float(F_ATTR.f, a.value).int64(F_ATTR.type, ATTR_TYPE.FLOAT);
      break;
    case 'string':
      w.string(F_ATTR.s, a.value).int64(F_ATTR.type, ATTR_TYPE.STRING);
      break;
    case 'ints':
      for (const x of a.value) w.int64(F_ATTR.ints, x);
      w.int64(F_ATTR.type, ATTR_TYPE.INTS);
      break;
    case 'floats':
      for (const x of a.value) w.float(F_ATTR.floats, x);
      w.int64(F_ATTR.type, ATTR_TYPE.FLOATS);
      break;
    case 'strings':
      for (const x of a.value) w.string(F_ATTR.strings, x);
      w.int64(F_ATTR.type, ATTR_TYPE.STRINGS);
      break;
    case 'tensor': {
      const t = a.value;
      // Attribute tensors (e.g. Constant's value) always stay inline.
      w.message(F_ATTR.t, (tw) => writeTensor(tw, t, tensorRawBytes(t), null));
      w.int64(F_ATTR.type, ATTR_TYPE.TENSOR);
      break;
    }
    case 'graph': {
      const g = a.value;
      w.message(F_ATTR.g, (gw) => writeGraph(gw, g, ctx));
      w.int64(F_ATTR.type, ATTR_TYPE.GRAPH);
      break;
    }
    default:
      throw new TypeError(
        `attribute "${name}": unknown kind ${JSON.stringify((a as { kind?: unknown }).kind)}`,
      );
  }
}

function writeNode(w: ProtoWriter, n: NodeSpec, ctx: EncodeContext): void {
  if (typeof n.opType !== 'string' || n.opType.length === 0) {
    throw new TypeError(`node.opType: expected a non-empty string, received ${JSON.stringify(n.opType)}`);
  }
  for (const i of n.inputs) w.string(F_NODE.input, i);
  for (const o of n.outputs) w.string(F_NODE.output, o);
  if (n.name) w.string(F_NODE.name, n.name);
  w.string(F_NODE.opType, n.opType);
  if (n.domain) w.string(F_NODE.domain, n.domain);
  if (n.attributes) {
    // Sorted so that object key order cannot change the bytes.
    for (const key of Object.keys(n.attributes).sort()) {
      const value = n.attributes[key]!;
      w.message(F_NODE.attribute, (aw) => writeAttribute(aw, key, value, ctx));
    }
  }
  if (n.docString) w.string(F_NODE.docString, n.docString);
}

// ---------------------------------------------------------------------------------------
// Graph / model

interface EncodeContext {
  external: Required<ExternalDataOptions> | null;
  /** Pieces of the external-data blob, in file order, with the running size. */
  blob: Uint8Array[];
  blobLength: number;
}

function placeExternal(ctx: EncodeContext, raw: Uint8Array): ExternalRef | null {
  const ext = ctx.external;
  if (!ext || raw.length < ext.minBytes) return null;
  const pad = (ext.alignment - (ctx.blobLength % ext.alignment)) % ext.alignment;
  if (pad > 0) {
    ctx.blob.push(new Uint8Array(pad));
    ctx.blobLength += pad;
  }
  const offset = ctx.blobLength;
  ctx.blob.push(raw);
  ctx.blobLength += raw.length;
  return { location: ext.location, offset, length: raw.length };
}

function writeGraph(w: ProtoWriter, g: GraphSpec, ctx: EncodeContext): void {
  for (const n of g.nodes) w.message(F_GRAPH.node, (nw) => writeNode(nw, n, ctx));
  w.string(F_GRAPH.name, g.name);
  for (const t of g.initializers ?? []) {
    const raw = tensorRawBytes(t);
    const ext = placeExternal(ctx, raw);
    w.message(F_GRAPH.initializer, (tw) => writeTensor(tw, t, raw, ext));
  }
  if (g.docString) w.string(F_GRAPH.docString, g.docString);
  for (const v of g.inputs) w.message(F_GRAPH.input, (vw) => writeValueInfo(vw, v));
  for (const v of g.outputs) w.message(F_GRAPH.output, (vw) => writeValueInfo(vw, v));
  for (const v of g.valueInfo ?? []) w.message(F_GRAPH.valueInfo, (vw) => writeValueInfo(vw, v));
}

/**
 * Encodes a model. With `externalData`, initializers of at least `minBytes` bytes are
 * stored in the returned blob (to be written next to the .onnx under `location`) and
 * referenced from the TensorProtos by location/offset/length.
 */
export function encodeModel(
  model: ModelSpec,
  opts: { externalData?: ExternalDataOptions } = {},
): EncodedModel {
  let external: Required<ExternalDataOptions> | null = null;
  if (opts.externalData) {
    const { location, minBytes = 1024, alignment = 4096 } = opts.externalData;
    if (
      typeof location !== 'string' ||
      location.length === 0 ||
      location.startsWith('/') ||
      location.includes('..') ||
      location.includes('\\')
    ) {
      throw new TypeError(
        `externalData.location: expected a relative file name without ".." or "\\", received ${JSON.stringify(location)}`,
      );
    }
    if (!Number.isSafeInteger(minBytes) || minBytes < 0) {
      throw new RangeError(
        `externalData.minBytes: expected a non-negative integer, received ${String(minBytes)}`,
      );
    }
    if (!Number.isSafeInteger(alignment) || alignment < 1) {
      throw new RangeError(
        `externalData.alignment: expected a positive integer, received ${String(alignment)}`,
      );
    }
    external = { location, minBytes, alignment };
  }
  const ctx: EncodeContext = { external, blob: [], blobLength: 0 };
  const irVersion = model.irVersion ?? 8;
  const opsets = model.opsetImports ?? [{ domain: '', version: 17 }];

  const w = new ProtoWriter(4096);
  w.int64(F_MODEL.irVersion, irVersion);
  if (model.producerName) w.string(F_MODEL.producerName, model.producerName);
  if (model.producerVersion) w.string(F_MODEL.producerVersion, model.producerVersion);
  if (model.domain) w.string(F_MODEL.domain, model.domain);
  if (model.modelVersion !== undefined) w.int64(F_MODEL.modelVersion, model.modelVersion);
  if (model.docString) w.string(F_MODEL.docString, model.docString);
  w.message(F_MODEL.graph, (gw) => writeGraph(gw, model.graph, ctx));
  for (const o of opsets) {
    w.message(F_MODEL.opsetImport, (ow) => {
      // An empty domain is the default ai.onnx domain; writing it explicitly is harmless.
      ow.string(F_OPSET.domain, o.domain);
      ow.int64(F_OPSET.version, o.version);
    });
  }
  if (model.metadata) {
    const md = model.metadata;
    for (const key of Object.keys(md).sort()) {
      w.message(F_MODEL.metadataProps, (e) => e.string(F_ENTRY.key, key).string(F_ENTRY.value, md[key]!));
    }
  }

  let externalData: Uint8Array | null = null;
  if (external && ctx.blobLength > 0) {
    externalData = new Uint8Array(ctx.blobLength);
    let off = 0;
    for (const piece of ctx.blob) {
      externalData.set(piece, off);
      off += piece.length;
    }
  }
  return { model: w.finish(), externalData };
}

// ---------------------------------------------------------------------------------------
// Builder

/**
 * Accumulates nodes, initializers and graph I/O, generating deterministic unique value
 * names (`<hint>_<counter>`), so the same sequence of calls always produces the same graph.
 */
export class GraphBuilder {
  private readonly nodes: NodeSpec[] = [];
  private readonly inits: TensorSpec[] = [];
  private readonly ins: ValueInfoSpec[] = [];
  private readonly outs: ValueInfoSpec[] = [];
  private readonly used = new Set<string>();
  private counter = 0;

  constructor(readonly name: string) {}

  private claim(name: string): string {
    if (typeof name !== 'string' || name.length === 0) {
      throw new TypeError(`value name: expected a non-empty string, received ${JSON.stringify(name)}`);
    }
    if (this.used.has(name)) throw new Error(`graph "${this.name}": value name "${name}" is already defined`);
    this.used.add(name);
    return name;
  }

  /** An unused value name derived from `hint` (not yet claimed). */
  private nextName(hint: string): string {
    let name: string;
    do {
      name = `${hint}_${this.counter++}`;
    } while (this.used.has(name));
    return name;
  }

  input(name: string, type: ElemType, shape: readonly Dim[] | undefined): string {
    this.ins.push({ name: this.claim(name), type, shape });
    return name;
  }

  /** Declares a graph output; the value must be produced by some node (see `op`'s `output`). */
  output(name: string, type: ElemType, shape: readonly Dim[] | undefined): void {
    this.outs.push({ name, type, shape });
  }

  initializer(tensor: TensorSpec): string {
    this.inits.push({ ...tensor, name: this.claim(tensor.name) });
    return tensor.name;
  }

  /** Anonymous float32 constant; a plain number with no dims is a scalar. */
  f32(values: number | readonly number[] | Float32Array, dims?: readonly number[], hint = 'c'): string {
    const data = typeof values === 'number' ? [values] : values;
    const shape = dims ?? (typeof values === 'number' ? [] : [data.length]);
    return this.initializer({ name: this.nextName(hint), type: 'float32', dims: shape, data });
  }

  /** Anonymous int64 constant; a plain number with no dims is a scalar. */
  i64(values: number | readonly number[], dims?: readonly number[], hint = 'c'): string {
    const data = typeof values === 'number' ? [values] : values;
    const shape = dims ?? (typeof values === 'number' ? [] : [data.length]);
    return this.initializer({ name: this.nextName(hint), type: 'int64', dims: shape, data });
  }

  /** Adds a node with one output and returns the output's name. Pass `output` to give it
   * a fixed name (e.g. a graph output); otherwise one is generated from the op type. */
  op(
    opType: string,
    inputs: readonly string[],
    attributes?: Readonly<Record<string, AttributeInput>>,
    output?: string,
  ): string {
    const out = output !== undefined ? this.claim(output) : this.claim(this.nextName(opType.toLowerCase()));
    this.nodes.push({ opType, inputs, outputs: [out], name: `${opType}_${this.nodes.length}`, attributes });
    return out;
  }

  build(docString?: string): GraphSpec {
    for (const o of this.outs) {
      if (!this.used.has(o.name))
        throw new Error(`graph "${this.name}": output "${o.name}" is never produced`);
    }
    return {
      name: this.name,
      nodes: [...this.nodes],
      inputs: [...this.ins],
      outputs: [...this.outs],
      initializers: [...this.inits],
      docString,
    };
  }
}
