/**
 * Removes named outputs from an ONNX model by editing its protobuf on the wire, and
 * optionally the nodes that then feed nothing.
 *
 * Why: ONNX Runtime's inference builds execute every node of a graph whatever outputs
 * `Run` asks for (microsoft/onnxruntime#3128, #16483 — the `only_execute_path_to_fetches`
 * run option only works in training builds). SAM's official decoder export upsamples
 * all four mask channels to the original image size inside the graph, but P2SAM's
 * cascade only reads `iou_predictions` and `low_res_masks`; declaring `masks` no longer
 * an output lets the dead upsampling go.
 *
 * The editor understands just enough of the schema to do that and copies every other
 * byte through unchanged (field order, unknown fields, packed tensors, external-data
 * references), so the result is the same model minus the removed parts:
 *   ModelProto  field 7  = graph (GraphProto)
 *   GraphProto  field 1  = node (NodeProto), field 12 = output (ValueInfoProto)
 *   GraphProto  field 5  = initializer (TensorProto, name = field 8), 11 = input
 *   ValueInfoProto field 1 = name
 *   NodeProto   field 1  = input (string), 2 = output (string), 5 = attribute
 *   AttributeProto field 6 = g (GraphProto), 11 = graphs (repeated GraphProto)
 * Subgraphs (If/Loop/Scan bodies) may read outer-scope values by name without listing
 * them as node inputs, so every name a live node's subgraphs consume counts as used.
 */

import { describeValue } from '../errors';
import {
  MalformedProtobuf,
  ProtoWriter,
  type ProtoField,
  readFields,
  readVarint,
  WireType,
} from './protobuf';

const WIRE_LEN = WireType.LENGTH_DELIMITED;

const utf8 = new TextDecoder('utf-8', { fatal: false });

function str(buf: Uint8Array, f: ProtoField): string {
  return utf8.decode(buf.subarray(f.dataStart, f.dataEnd));
}

function lenFields(buf: Uint8Array, parent: ProtoField, number: number): ProtoField[] {
  return readFields(buf, parent.dataStart, parent.dataEnd).filter(
    (f) => f.field === number && f.wire === WIRE_LEN,
  );
}

function valueInfoName(buf: Uint8Array, vi: ProtoField): string {
  const name = lenFields(buf, vi, 1)[0];
  return name ? str(buf, name) : '';
}

interface NodeRefs {
  inputs: string[];
  outputs: string[];
}

/** Every tensor name a subgraph reads (its nodes' inputs, recursively), i.e. a superset of its outer-scope captures. */
function subgraphReads(buf: Uint8Array, graph: ProtoField, into: string[]): void {
  for (const node of lenFields(buf, graph, 1)) {
    const refs = nodeRefs(buf, node);
    into.push(...refs.inputs);
  }
}

function nodeRefs(buf: Uint8Array, node: ProtoField): NodeRefs {
  const inputs: string[] = [];
  const outputs: string[] = [];
  for (const f of readFields(buf, node.dataStart, node.dataEnd)) {
    if (f.wire !== WIRE_LEN) continue;
    if (f.field === 1) inputs.push(str(buf, f));
    else if (f.field === 2) outputs.push(str(buf, f));
    else if (f.field === 5) {
      for (const a of readFields(buf, f.dataStart, f.dataEnd)) {
        if (a.wire === WIRE_LEN && (a.field === 6 || a.field === 11)) subgraphReads(buf, a, inputs);
      }
    }
  }
  return { inputs, outputs };
}

/** A length-delimited field whose payload is the concatenation of `parts`, with the original tag bytes. */
function rewrap(buf: Uint8Array, f: ProtoField, parts: Uint8Array[]): Uint8Array[] {
  const tagEnd = readVarint(buf, f.start, f.end).next;
  const len = parts.reduce((s, p) => s + p.length, 0);
  return [buf.subarray(f.start, tagEnd), new ProtoWriter(10).varint(len).finish(), ...parts];
}

function concat(parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export interface PruneOptions {
  /**
   * Also delete the nodes that no remaining graph output depends on (default true).
   * With false only the output declarations go, and dead nodes are left for the runtime
   * (ONNX Runtime's inference builds run them anyway).
   */
  removeDeadNodes?: boolean;
}

export interface PruneResult {
  /** The edited model. Weights held in external-data files are referenced unchanged. */
  model: Uint8Array;
  removedOutputs: string[];
  keptOutputs: string[];
  /** How many nodes were deleted as dead (0 with removeDeadNodes: false). */
  removedNodes: number;
  /** Initializers only dead nodes read, deleted with them (ONNX Runtime would warn about each and drop it). */
  removedInitializers: number;
  /** Node count of the main graph before the edit. */
  nodes: number;
}

function graphField(model: Uint8Array): { top: ProtoField[]; graphs: ProtoField[] } {
  let top: ProtoField[];
  try {
    top = readFields(model, 0, model.length);
  } catch (e) {
    if (e instanceof MalformedProtobuf)
      throw new RangeError(`model: not a valid ONNX protobuf (${e.message})`);
    throw e;
  }
  const graphs = top.filter((f) => f.field === 7 && f.wire === WIRE_LEN);
  if (graphs.length === 0)
    throw new RangeError('model: the ModelProto has no graph (field 7); is this an ONNX model file?');
  return { top, graphs };
}

function checkModel(model: unknown): Uint8Array {
  if (!(model instanceof Uint8Array))
    throw new TypeError(
      `model: expected a Uint8Array with the .onnx file's bytes, received ${describeValue(model)}`,
    );
  if (model.length === 0)
    throw new RangeError("model: expected the .onnx file's bytes, received an empty buffer");
  return model;
}

/** The names of a model's graph outputs, in declaration order. */
export function graphOutputs(model: Uint8Array): string[] {
  const bytes = checkModel(model);
  const { graphs } = graphField(bytes);
  try {
    return graphs.flatMap((g) => lenFields(bytes, g, 12).map((vi) => valueInfoName(bytes, vi)));
  } catch (e) {
    if (e instanceof MalformedProtobuf)
      throw new RangeError(`model: not a valid ONNX protobuf (${e.message})`);
    throw e;
  }
}

/**
 * Whether any initializer of the main graph keeps its payload in an external-data file
 * (TensorProto field 14 `data_location` = 1, EXTERNAL). Such a model can only be run
 * with a folder to resolve the file names in.
 */
export function hasExternalData(model: Uint8Array): boolean {
  const bytes = checkModel(model);
  const { graphs } = graphField(bytes);
  try {
    for (const g of graphs)
      for (const init of lenFields(bytes, g, 5))
        for (const f of readFields(bytes, init.dataStart, init.dataEnd))
          if (
            f.field === 14 &&
            f.wire === WireType.VARINT &&
            readVarint(bytes, readVarint(bytes, f.start, f.end).next, f.end).value === 1
          )
            return true;
    return false;
  } catch (e) {
    if (e instanceof MalformedProtobuf)
      throw new RangeError(`model: not a valid ONNX protobuf (${e.message})`);
    throw e;
  }
}

/**
 * Returns a copy of `model` whose main graph no longer declares the outputs named in
 * `remove` and (by default) no longer contains the nodes that only they needed.
 *
 * @throws TypeError/RangeError naming the parameter for non-bytes, malformed protobuf,
 *   an unknown output name (the message lists the graph's outputs) or a request that
 *   would leave the graph without outputs.
 */
export function pruneOutputs(
  model: Uint8Array,
  remove: readonly string[],
  options: PruneOptions = {},
): PruneResult {
  const bytes = checkModel(model);
  if (
    !Array.isArray(remove) ||
    remove.length === 0 ||
    !remove.every((n) => typeof n === 'string' && n.length > 0)
  )
    throw new TypeError(
      `remove: expected a non-empty array of output names, received ${describeValue(remove)}`,
    );
  if (options === null || typeof options !== 'object')
    throw new TypeError(`options: expected an object, received ${describeValue(options)}`);
  if (options.removeDeadNodes !== undefined && typeof options.removeDeadNodes !== 'boolean')
    throw new TypeError(
      `options.removeDeadNodes: expected a boolean, received ${describeValue(options.removeDeadNodes)}`,
    );
  const removeDead = options.removeDeadNodes ?? true;

  const { top, graphs } = graphField(bytes);
  try {
    const declared = graphs.flatMap((g) => lenFields(bytes, g, 12).map((vi) => valueInfoName(bytes, vi)));
    const unknown = remove.filter((n) => !declared.includes(n));
    if (unknown.length)
      throw new RangeError(
        `remove: ${unknown.map((n) => JSON.stringify(n)).join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not an output of this graph; its outputs are ${declared.map((n) => JSON.stringify(n)).join(', ')}`,
      );
    const kept = declared.filter((n) => !remove.includes(n));
    if (kept.length === 0)
      throw new RangeError(`remove: removing ${remove.join(', ')} would leave the graph with no output`);

    // Liveness over the node list: a node is live when something live reads one of its
    // outputs. ONNX stores nodes topologically sorted, so one backwards sweep settles
    // it; the loop repeats only for files that violate that order.
    const nodeFields = graphs.flatMap((g) => lenFields(bytes, g, 1));
    const refs = nodeFields.map((n) => nodeRefs(bytes, n));
    const live = new Set<number>();
    if (removeDead) {
      const needed = new Set<string>(kept);
      let changed = true;
      while (changed) {
        changed = false;
        for (let i = refs.length - 1; i >= 0; i--) {
          if (live.has(i)) continue;
          const r = refs[i]!;
          // A node with no outputs can only exist for its side effects; keep it.
          if (r.outputs.length === 0 || r.outputs.some((o) => o !== '' && needed.has(o))) {
            live.add(i);
            changed = true;
            for (const inp of r.inputs) if (inp !== '') needed.add(inp);
          }
        }
      }
    } else {
      for (let i = 0; i < refs.length; i++) live.add(i);
    }
    const deadStarts = new Set(nodeFields.filter((_, i) => !live.has(i)).map((f) => f.start));
    // Weights read only by dead nodes go too. An initializer that is also declared as a
    // graph input is an overridable default (IR < 4 style); deleting it would turn it
    // into a required input, so those stay.
    const deadInits = new Set<number>();
    if (removeDead && deadStarts.size > 0) {
      const read = new Set<string>();
      refs.forEach((r, i) => {
        if (live.has(i)) for (const inp of r.inputs) read.add(inp);
      });
      for (const n of kept) read.add(n);
      const inputs = new Set(
        graphs.flatMap((g) => lenFields(bytes, g, 11).map((vi) => valueInfoName(bytes, vi))),
      );
      for (const g of graphs)
        for (const init of lenFields(bytes, g, 5)) {
          const nameField = lenFields(bytes, init, 8)[0];
          const name = nameField ? str(bytes, nameField) : '';
          if (name !== '' && !read.has(name) && !inputs.has(name)) deadInits.add(init.start);
        }
    }

    const parts: Uint8Array[] = [];
    for (const f of top) {
      if (!(f.field === 7 && f.wire === WIRE_LEN)) {
        parts.push(bytes.subarray(f.start, f.end));
        continue;
      }
      const body: Uint8Array[] = [];
      for (const g of readFields(bytes, f.dataStart, f.dataEnd)) {
        if (g.wire === WIRE_LEN && g.field === 12 && remove.includes(valueInfoName(bytes, g))) continue;
        if (g.wire === WIRE_LEN && g.field === 1 && deadStarts.has(g.start)) continue;
        if (g.wire === WIRE_LEN && g.field === 5 && deadInits.has(g.start)) continue;
        body.push(bytes.subarray(g.start, g.end));
      }
      parts.push(...rewrap(bytes, f, body));
    }
    return {
      model: concat(parts),
      removedOutputs: declared.filter((n) => remove.includes(n)),
      keptOutputs: kept,
      removedNodes: deadStarts.size,
      removedInitializers: deadInits.size,
      nodes: nodeFields.length,
    };
  } catch (e) {
    if (e instanceof MalformedProtobuf)
      throw new RangeError(`model: not a valid ONNX protobuf (${e.message})`);
    throw e;
  }
}

/**
 * Appends already-encoded GraphProto fields (nodes, outputs, …) to the end of a model's
 * main graph, copying everything else verbatim. Field order inside a message carries no
 * meaning for repeated fields other than their relative order, and ONNX Runtime sorts
 * nodes topologically itself, so appended nodes may consume any existing value.
 */
export function appendToGraph(model: Uint8Array, graphFields: Uint8Array): Uint8Array {
  const bytes = checkModel(model);
  if (!(graphFields instanceof Uint8Array))
    throw new TypeError(
      `graphFields: expected encoded GraphProto fields as a Uint8Array, received ${describeValue(graphFields)}`,
    );
  const { top, graphs } = graphField(bytes);
  if (graphs.length !== 1)
    throw new RangeError(`model: expected exactly one graph field, found ${graphs.length}`);
  try {
    readFields(graphFields, 0, graphFields.length);
  } catch (e) {
    if (e instanceof MalformedProtobuf)
      throw new RangeError(`graphFields: not valid protobuf fields (${e.message})`);
    throw e;
  }
  const parts: Uint8Array[] = [];
  for (const f of top) {
    if (f === graphs[0])
      parts.push(...rewrap(bytes, f, [bytes.subarray(f.dataStart, f.dataEnd), graphFields]));
    else parts.push(bytes.subarray(f.start, f.end));
  }
  return concat(parts);
}
