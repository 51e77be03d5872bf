/**
 * Rewrites the global-attention blocks of an exported SAM ViT image encoder so that only a
 * slice of each attention-score matrix exists at a time — same function, smaller peak memory.
 *
 * Why: a SAM global block computes scores of shape (B·heads, 4096, 4096) — 0.8 GB for ViT-B's
 * 12 heads — and ONNX Runtime materialises that tensor several times over (q·kᵀ, the two
 * relative-position additions, the softmax) before it multiplies by v. Heads are independent,
 * so the rewrite cuts the leading (batch·heads) axis into `chunks` pieces and runs
 * q·kᵀ → rel-pos adds → softmax → ·v per piece, then concatenates the pieces: every output
 * element is computed by the same operations on the same numbers as before.
 *
 * Why one file of ~790 lines: recognising a block and rewriting it walk the same node
 * chain with the same shape inference; they are kept together so the two cannot drift.
 *
 * Recognition is by structure, never by node names: a Softmax over the last axis whose only
 * consumer is MatMul(softmax, v), reached from a MatMul(q, kᵀ) through a short chain of
 * Reshape / Add / Mul / Sub / Div nodes, where at least two added terms trace back to SAM's
 * decomposed rel-pos lookups: a Gather from a 2-D table (`rel_pos_h`/`rel_pos_w`, 2·side − 1
 * rows) as torch exports it, or an Einsum with a constant [side, side, C] table where
 * constant folding (ONNX Runtime's, onnxsim's) has done the lookup already. The two sides
 * give the token grid; only grids of at least `minTokens` tokens
 * are rewritten (the windowed blocks' 14×14 windows are left alone: nothing to gain).
 * Anything else is reported and left byte-for-byte unchanged.
 *
 * Shapes in torch exports are computed at run time (Shape → Gather → Concat chains), so the
 * rewrite never needs them: chunk bounds are derived from the run-time size of the leading
 * axis, Reshape targets get their first entry replaced by the chunk's run-time size, and an
 * operand is sliced only when its rank (inferred statically from the graph) equals the
 * chain's — with a bound clamp that also handles a broadcast leading axis of size 1.
 * Everything else in the model (weights, external-data references, other nodes, metadata)
 * is copied through byte for byte; new nodes go where the final MatMul was, which keeps the
 * node list topologically sorted.
 */

import { describeValue } from '../errors';
import { encodeModel, type NodeSpec, type TensorSpec } from './graph';
import {
  MalformedProtobuf,
  ProtoWriter,
  type ProtoField,
  readFields,
  readVarint,
  WireType,
} from './protobuf';

const LEN = WireType.LENGTH_DELIMITED;
const VARINT = WireType.VARINT;
const utf8 = new TextDecoder('utf-8', { fatal: false });
const INT64_MAX = 9223372036854775807n;

/**
 * Default pieces per global block: 16, so that every SAM ViT (12 heads for B, 16 for L and
 * H, batch 1) computes at most one head's 4096×4096 scores at a time. Measured on a
 * random-weight ViT-B (bench/lean.ts, docs/performance.md): 4 pieces (3 heads each) left the
 * whole-target peak at 2.2 GiB, one head per piece brought it to 1.75 GiB, and neither was
 * slower than the original graph; below one head there is nothing left to cut on this axis.
 */
export const DEFAULT_LEAN_CHUNKS = 16;

/** Options of {@link leanAttention}. */
export interface LeanAttentionOptions {
  /**
   * Pieces the batch·heads axis of each global block is cut into (default
   * {@link DEFAULT_LEAN_CHUNKS}). Chunk bounds are ⌊c·BH/chunks⌋, so more pieces than heads
   * just leaves some empty.
   */
  chunks?: number;
  /** Smallest token grid (side_h × side_w from the rel-pos tables) worth rewriting (default 1024). */
  minTokens?: number;
}

/** One attention subgraph the rewrite looked at. */
export interface AttentionSite {
  /** Name of the Softmax node (or its output when unnamed), for messages. */
  softmax: string;
  /** Token grid from the rel-pos tables, when found. */
  grid?: [number, number];
  /** Present when the site was left unchanged: why. */
  skipped?: string;
}

/** Result of {@link leanAttention}. */
export interface LeanAttentionResult {
  /** The rewritten model, or the input bytes themselves when nothing was rewritten. */
  model: Uint8Array;
  /** How many attention subgraphs were rewritten. */
  rewritten: number;
  /** Chunks per rewritten subgraph. */
  chunks: number;
  /** Every Softmax → MatMul site considered, rewritten or not. */
  sites: AttentionSite[];
  /** When nothing was rewritten: one sentence saying why (the graph is returned unchanged). */
  reason?: string;
  /**
   * True when some weights live in an external-data file. Those references are relative to
   * the .onnx file's directory, so the rewritten model must be written into the same
   * directory as the original (or loaded from there).
   */
  externalData: boolean;
}

interface RawAttr {
  name: string;
  i?: bigint;
  s?: string;
  ints?: bigint[];
  t?: ProtoField;
}

interface RawNode {
  field: ProtoField;
  index: number;
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Map<string, RawAttr>;
}

interface TensorInfo {
  dims: number[];
  field: ProtoField;
}

function str(buf: Uint8Array, f: ProtoField): string {
  return utf8.decode(buf.subarray(f.dataStart, f.dataEnd));
}

/** Signed 64-bit value of a varint field (protobuf stores negative int64 as two's complement). */
function varint64(buf: Uint8Array, f: ProtoField): bigint {
  let v = 0n;
  let shift = 0n;
  for (let p = f.dataStart; p < f.end; p++) {
    const b = buf[p]!;
    v |= BigInt(b & 0x7f) << shift;
    shift += 7n;
    if ((b & 0x80) === 0) break;
  }
  return BigInt.asIntN(64, v);
}

/** int64 values of a field that may be packed (wire type 2) or repeated varints. */
function pushInts(buf: Uint8Array, f: ProtoField, into: bigint[]): void {
  if (f.wire === VARINT) {
    into.push(varint64(buf, f));
    return;
  }
  let p = f.dataStart;
  while (p < f.dataEnd) {
    const start = p;
    p = readVarint(buf, p, f.dataEnd).next;
    into.push(varint64(buf, { field: f.field, wire: VARINT, start, end: p, dataStart: start, dataEnd: p }));
  }
}

function parseAttr(buf: Uint8Array, f: ProtoField): RawAttr {
  const a: RawAttr = { name: '' };
  for (const x of readFields(buf, f.dataStart, f.dataEnd)) {
    if (x.field === 1 && x.wire === LEN) a.name = str(buf, x);
    else if (x.field === 3 && x.wire === VARINT) a.i = varint64(buf, x);
    else if (x.field === 4 && x.wire === LEN) a.s = str(buf, x);
    else if (x.field === 5 && x.wire === LEN) a.t = x;
    else if (x.field === 8) {
      a.ints ??= [];
      pushInts(buf, x, a.ints);
    }
  }
  return a;
}

function parseNode(buf: Uint8Array, f: ProtoField, index: number): RawNode {
  const n: RawNode = {
    field: f,
    index,
    name: '',
    opType: '',
    domain: '',
    inputs: [],
    outputs: [],
    attrs: new Map(),
  };
  for (const x of readFields(buf, f.dataStart, f.dataEnd)) {
    if (x.wire !== LEN) continue;
    if (x.field === 1) n.inputs.push(str(buf, x));
    else if (x.field === 2) n.outputs.push(str(buf, x));
    else if (x.field === 3) n.name = str(buf, x);
    else if (x.field === 4) n.opType = str(buf, x);
    else if (x.field === 7) n.domain = str(buf, x);
    else if (x.field === 5) {
      const a = parseAttr(buf, x);
      n.attrs.set(a.name, a);
    }
  }
  return n;
}

/** dims (field 1) of a TensorProto, and its int64 payload when it has one (int64_data or raw). */
function parseTensor(
  buf: Uint8Array,
  f: ProtoField,
): { name: string; dims: number[]; ints?: bigint[]; external: boolean } {
  const dims: bigint[] = [];
  let name = '';
  let type = 0;
  const int64: bigint[] = [];
  let raw: ProtoField | undefined;
  let external = false;
  for (const x of readFields(buf, f.dataStart, f.dataEnd)) {
    if (x.field === 1) pushInts(buf, x, dims);
    else if (x.field === 2 && x.wire === VARINT) type = Number(varint64(buf, x));
    else if (x.field === 8 && x.wire === LEN) name = str(buf, x);
    else if (x.field === 7) pushInts(buf, x, int64);
    else if (x.field === 9 && x.wire === LEN) raw = x;
    else if (x.field === 14 && x.wire === VARINT) external = varint64(buf, x) === 1n;
  }
  const out: { name: string; dims: number[]; ints?: bigint[]; external: boolean } = {
    name,
    dims: dims.map(Number),
    external,
  };
  if (type === 7) {
    if (raw) {
      const view = new DataView(buf.buffer, buf.byteOffset + raw.dataStart, raw.dataEnd - raw.dataStart);
      out.ints = [];
      for (let o = 0; o + 8 <= view.byteLength; o += 8) out.ints.push(view.getBigInt64(o, true));
    } else out.ints = int64;
  }
  return out;
}

/** Rank of each graph input / value_info entry that declares a shape. */
function declaredRanks(buf: Uint8Array, infos: ProtoField[], into: Map<string, number>): void {
  for (const vi of infos) {
    let name = '';
    let rank: number | undefined;
    for (const x of readFields(buf, vi.dataStart, vi.dataEnd)) {
      if (x.field === 1 && x.wire === LEN) name = str(buf, x);
      else if (x.field === 2 && x.wire === LEN) {
        const tensorType = readFields(buf, x.dataStart, x.dataEnd).find(
          (t) => t.field === 1 && t.wire === LEN,
        );
        const shape =
          tensorType &&
          readFields(buf, tensorType.dataStart, tensorType.dataEnd).find(
            (t) => t.field === 2 && t.wire === LEN,
          );
        if (shape) rank = readFields(buf, shape.dataStart, shape.dataEnd).filter((d) => d.field === 1).length;
      }
    }
    if (name && rank !== undefined) into.set(name, rank);
  }
}

/** The parsed main graph and the static facts the matcher needs about it. */
class GraphView {
  readonly nodes: RawNode[];
  readonly producer = new Map<string, RawNode>();
  readonly consumers = new Map<string, RawNode[]>();
  readonly tensors = new Map<string, TensorInfo & { ints?: bigint[] }>();
  readonly outputs = new Set<string>();
  readonly names = new Set<string>();
  readonly opset: number;
  externalData = false;
  readonly #declared = new Map<string, number>();
  readonly #rank = new Map<string, number | undefined>();

  constructor(
    readonly buf: Uint8Array,
    readonly graph: ProtoField,
    opset: number,
  ) {
    this.opset = opset;
    const fields = readFields(buf, graph.dataStart, graph.dataEnd);
    this.nodes = fields.filter((f) => f.field === 1 && f.wire === LEN).map((f, i) => parseNode(buf, f, i));
    for (const n of this.nodes) {
      for (const o of n.outputs) {
        this.producer.set(o, n);
        this.names.add(o);
      }
      for (const i of n.inputs) {
        if (i === '') continue;
        const list = this.consumers.get(i);
        if (list) list.push(n);
        else this.consumers.set(i, [n]);
      }
      if (n.name) this.names.add(n.name);
    }
    for (const f of fields) {
      if (f.wire !== LEN) continue;
      if (f.field === 5) {
        const t = parseTensor(buf, f);
        this.tensors.set(t.name, { dims: t.dims, field: f, ints: t.ints });
        if (t.external) this.externalData = true;
        this.names.add(t.name);
      } else if (f.field === 12) {
        const name = readFields(buf, f.dataStart, f.dataEnd).find((x) => x.field === 1 && x.wire === LEN);
        if (name) this.outputs.add(str(buf, name));
      }
    }
    declaredRanks(
      buf,
      fields.filter((f) => (f.field === 11 || f.field === 13) && f.wire === LEN),
      this.#declared,
    );
    for (const n of this.#declared.keys()) this.names.add(n);
  }

  /** A constant's int64 values: an initializer or a Constant node's `value`. */
  constInts(name: string): bigint[] | undefined {
    const init = this.tensors.get(name);
    if (init) return init.ints;
    const p = this.producer.get(name);
    if (p?.opType === 'Constant' && p.attrs.get('value')?.t)
      return parseTensor(this.buf, p.attrs.get('value')!.t!).ints;
    return undefined;
  }

  /** Static rank of a value, or undefined when these rules cannot tell. */
  rank(name: string, depth = 0): number | undefined {
    if (this.#rank.has(name)) return this.#rank.get(name);
    const r = depth > 200 ? undefined : this.#inferRank(name, depth + 1);
    this.#rank.set(name, r);
    return r;
  }

  #inferRank(name: string, depth: number): number | undefined {
    const init = this.tensors.get(name);
    if (init) return init.dims.length;
    const declared = this.#declared.get(name);
    if (declared !== undefined) return declared;
    const n = this.producer.get(name);
    if (n?.domain !== '') return undefined;
    const r = (i: number) => (n.inputs[i] ? this.rank(n.inputs[i]!, depth) : undefined);
    switch (n.opType) {
      case 'Constant': {
        const t = n.attrs.get('value')?.t;
        return t ? parseTensor(this.buf, t).dims.length : undefined;
      }
      case 'Einsum': {
        const eq = n.attrs.get('equation')?.s?.replace(/\s+/g, '');
        const out = eq?.split('->')[1];
        return out !== undefined && !out.includes('.') ? out.length : undefined;
      }
      case 'Unsqueeze':
      case 'Squeeze': {
        const axes = n.attrs.get('axes')?.ints ?? (n.inputs[1] ? this.constInts(n.inputs[1]) : undefined);
        const base = r(0);
        if (base === undefined || axes === undefined) return undefined;
        return n.opType === 'Unsqueeze' ? base + axes.length : base - axes.length;
      }
      case 'Transpose':
        return n.attrs.get('perm')?.ints?.length ?? r(0);
      case 'MatMul': {
        const a = r(0);
        const b = r(1);
        return a !== undefined && b !== undefined && a >= 2 && b >= 2 ? Math.max(a, b) : undefined;
      }
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div':
      case 'Pow':
      case 'Where':
      case 'Max':
      case 'Min': {
        const ranks = n.inputs.map((_, i) => r(i));
        return ranks.every((x) => x !== undefined) ? Math.max(...(ranks as number[])) : undefined;
      }
      case 'Reshape':
        return this.length(n.inputs[1]!, depth);
      case 'Shape':
        return 1;
      case 'Gather': {
        const a = r(0);
        const b = r(1);
        return a !== undefined && b !== undefined ? a - 1 + b : undefined;
      }
      case 'Softmax':
      case 'Cast':
      case 'Relu':
      case 'Sqrt':
      case 'Neg':
      case 'Exp':
      case 'Erf':
      case 'Identity':
      case 'LayerNormalization':
      case 'Concat':
      case 'Slice':
      case 'Split':
        return r(0);
      default:
        return undefined;
    }
  }

  /** Static length of a 1-D integer tensor (a Reshape target), or undefined. */
  length(name: string, depth: number): number | undefined {
    const c = this.constInts(name);
    if (c) return c.length;
    const n = this.producer.get(name);
    if (!n || depth > 200) return undefined;
    if (n.opType === 'Concat') {
      let sum = 0;
      for (const i of n.inputs) {
        const l = this.length(i, depth + 1);
        if (l === undefined) return undefined;
        sum += l;
      }
      return sum;
    }
    if (n.opType === 'Unsqueeze' && this.rank(n.inputs[0]!, depth) === 0) return 1;
    if (n.opType === 'Shape' && !n.attrs.has('start') && !n.attrs.has('end'))
      return this.rank(n.inputs[0]!, depth);
    if (n.opType === 'Cast' || n.opType === 'Identity') return this.length(n.inputs[0]!, depth + 1);
    return undefined;
  }

  single(name: string): RawNode | undefined {
    const c = this.consumers.get(name);
    return c && c.length === 1 && !this.outputs.has(name) ? c[0] : undefined;
  }
}

/** dims of a constant (initializer or Constant node), or undefined. */
function constDims(g: GraphView, name: string): number[] | undefined {
  const init = g.tensors.get(name);
  if (init) return init.dims;
  const p = g.producer.get(name);
  const t = p?.opType === 'Constant' ? p.attrs.get('value')?.t : undefined;
  return t ? parseTensor(g.buf, t).dims : undefined;
}

/**
 * The query-side length of a decomposed rel-pos term, found a few producers up from the
 * added value: either SAM's lookup as exported (Gather from the 2-D table `rel_pos_h` of
 * 2·side − 1 rows) or, in graphs where constant folding has already done that lookup, the
 * Einsum's constant [side, side, C] table.
 */
function relPosSide(g: GraphView, name: string): number | undefined {
  const queue: [string, number][] = [[name, 0]];
  const seen = new Set<string>();
  while (queue.length) {
    const [v, d] = queue.shift()!;
    if (seen.has(v) || d > 6) continue;
    seen.add(v);
    const n = g.producer.get(v);
    if (!n) continue;
    if (n.opType === 'Gather') {
      const t = constDims(g, n.inputs[0]!);
      if (t && t.length === 2) return (t[0]! + 1) / 2;
    }
    if (n.opType === 'Einsum') {
      const t = n.inputs
        .map((i) => constDims(g, i))
        .find((dims) => dims?.length === 3 && dims[0] === dims[1]);
      if (t) return t[0];
    }
    for (const i of n.inputs) if (i) queue.push([i, d + 1]);
  }
  return undefined;
}

const ELEMENTWISE = new Set(['Add', 'Sub', 'Mul', 'Div']);
const CHAIN_OPS = new Set([...ELEMENTWISE, 'Reshape', 'MatMul']);

interface ChainStep {
  node: RawNode;
  /** Which input carries the score tensor. */
  chainInput: number;
}

interface Site {
  softmax: RawNode;
  qk: RawNode;
  steps: ChainStep[];
  av: RawNode;
  grid: [number, number];
}

/** Matches one Softmax; returns the site or why it is not SAM global attention. */
function matchSite(
  g: GraphView,
  sm: RawNode,
  minTokens: number,
): Site | { grid?: [number, number]; skipped: string } {
  const out = sm.outputs[0]!;
  const av = g.single(out);
  if (av?.opType !== 'MatMul' || av.inputs[0] !== out)
    return { skipped: 'the softmax does not feed exactly one MatMul(softmax, v)' };
  const rank = g.rank(sm.inputs[0]!);
  if (rank === undefined || rank < 3)
    return {
      skipped: 'the rank of the attention scores could not be determined (or has no batch·heads axis)',
    };
  const axis = Number(sm.attrs.get('axis')?.i ?? (g.opset >= 13 ? -1n : 1n));
  if (axis !== -1 && axis !== rank - 1)
    return { skipped: `softmax over axis ${axis}, not the last (key) axis` };
  const vRank = g.rank(av.inputs[1]!);
  if (vRank === undefined || vRank > rank)
    return { skipped: "the rank of v is unknown or larger than the scores'" };

  const steps: ChainStep[] = [];
  let cur = sm.inputs[0]!;
  let qk: RawNode | undefined;
  for (let hop = 0; hop < 10 && !qk; hop++) {
    const p = g.producer.get(cur);
    if (!p || !CHAIN_OPS.has(p.opType) || p.domain !== '' || g.single(cur) === undefined) break;
    if (p.opType === 'MatMul') {
      qk = p;
      break;
    }
    let chainInput = 0;
    if (ELEMENTWISE.has(p.opType)) {
      if (p.inputs.length !== 2) break;
      const candidates = [0, 1].filter(
        (i) => CHAIN_OPS.has(g.producer.get(p.inputs[i]!)?.opType ?? '') && g.single(p.inputs[i]!) === p,
      );
      if (candidates.length !== 1) break;
      chainInput = candidates[0]!;
    } else if (Number(p.attrs.get('allowzero')?.i ?? 0n) !== 0) break;
    steps.unshift({ node: p, chainInput });
    cur = p.inputs[chainInput]!;
  }
  if (!qk) return { skipped: 'no MatMul(q, kᵀ) reached through Reshape/Add/Mul/Sub/Div from the softmax' };

  const sides = steps
    .filter((s) => s.node.opType === 'Add')
    .map((s) => relPosSide(g, s.node.inputs[1 - s.chainInput]!))
    .filter((side): side is number => side !== undefined);
  if (sides.length < 2)
    return {
      skipped: "no decomposed relative-position terms (SAM's rel-pos table lookups) are added to the scores",
    };
  const grid: [number, number] = [sides[0]!, sides[1]!];
  if (grid[0] * grid[1] < minTokens)
    return {
      grid,
      skipped: `attention over ${grid[0]}×${grid[1]} tokens (windowed): below minTokens ${minTokens}, nothing to gain`,
    };
  const qkRanks = [g.rank(qk.inputs[0]!), g.rank(qk.inputs[1]!)];
  if (qkRanks.some((r) => r === undefined) || Math.max(...(qkRanks as number[])) < 3)
    return { grid, skipped: 'q and kᵀ have no static batch·heads axis' };
  for (const s of steps) {
    if (!ELEMENTWISE.has(s.node.opType)) continue;
    const side = g.rank(s.node.inputs[1 - s.chainInput]!);
    const chain = g.rank(s.node.inputs[s.chainInput]!);
    if (side === undefined || chain === undefined || side > chain)
      return {
        grid,
        skipped: `the rank of an operand of ${s.node.opType} ${s.node.name} is unknown or larger than the scores'`,
      };
  }
  return { softmax: sm, qk, steps, av, grid };
}

/** Emits the chunked replacement of one site as NodeSpecs. */
class Emitter {
  readonly nodes: NodeSpec[] = [];
  readonly inits: TensorSpec[] = [];
  #n = 0;

  constructor(
    private readonly g: GraphView,
    private readonly prefix: string,
  ) {}

  fresh(hint: string): string {
    let name: string;
    do name = `${this.prefix}/${hint}_${this.#n++}`;
    while (this.g.names.has(name));
    this.g.names.add(name);
    return name;
  }

  op(opType: string, inputs: string[], attributes?: NodeSpec['attributes'], output?: string): string {
    const out = output ?? this.fresh(opType.toLowerCase());
    this.nodes.push({
      opType,
      inputs,
      outputs: [out],
      name: this.fresh(`${opType}_node`),
      ...(attributes ? { attributes } : {}),
    });
    return out;
  }

  i64(values: readonly bigint[], hint: string): string {
    const name = this.fresh(hint);
    this.inits.push({ name, type: 'int64', dims: [values.length], data: values });
    return name;
  }
}

function emitSite(g: GraphView, site: Site, chunks: number, prefix: string): Emitter {
  const e = new Emitter(g, prefix);
  const zero = e.i64([0n], 'zero');
  const one = e.i64([1n], 'one');
  const end = e.i64([INT64_MAX], 'int64_max');
  const k = e.i64([BigInt(chunks)], 'chunks');
  const leading = (x: string) => e.op('Slice', [e.op('Shape', [x]), zero, one]);

  const [qName, kName] = site.qk.inputs as [string, string];
  const qkRank = Math.max(g.rank(qName)!, g.rank(kName)!);
  const ref = g.rank(qName) === qkRank ? qName : kName;
  const bh = leading(ref);
  // Chunk c covers [⌊c·BH/K⌋, ⌊(c+1)·BH/K⌋) of the batch·heads axis.
  const bounds = Array.from({ length: chunks + 1 }, (_, c) =>
    c === 0 ? zero : e.op('Div', [e.op('Mul', [bh, e.i64([BigInt(c)], 'index')]), k]),
  );

  // An operand with the chain's rank shares its leading axis (size BH, or 1 when broadcast):
  // slice it with the bounds clamped to its own size, so a size-1 axis stays whole.
  const sliceCache = new Map<string, { d0: string; last: string }>();
  const sliced = (x: string, c: number): string => {
    let s = sliceCache.get(x);
    if (!s) {
      const d0 = leading(x);
      s = { d0, last: e.op('Sub', [d0, one]) };
      sliceCache.set(x, s);
    }
    const from = e.op('Min', [bounds[c]!, s.last]);
    const to = e.op('Min', [bounds[c + 1]!, s.d0]);
    return e.op('Slice', [x, from, to, zero]);
  };
  const operand = (x: string, chainRank: number, c: number) => (g.rank(x) === chainRank ? sliced(x, c) : x);

  const pieces: string[] = [];
  for (let c = 0; c < chunks; c++) {
    let cur = e.op('MatMul', [operand(qName, qkRank, c), operand(kName, qkRank, c)]);
    for (const s of site.steps) {
      const n = s.node;
      if (n.opType === 'Reshape') {
        const target = e.op('Concat', [leading(cur), e.op('Slice', [n.inputs[1]!, one, end, zero])], {
          axis: 0,
        });
        cur = e.op('Reshape', [cur, target]);
      } else {
        const chainRank = g.rank(n.inputs[s.chainInput]!)!;
        const side = operand(n.inputs[1 - s.chainInput]!, chainRank, c);
        cur = e.op(n.opType, s.chainInput === 0 ? [cur, side] : [side, cur]);
      }
    }
    const axis = Number(site.softmax.attrs.get('axis')?.i ?? (g.opset >= 13 ? -1n : 1n));
    const probs = e.op('Softmax', [cur], { axis });
    const smRank = g.rank(site.softmax.inputs[0]!)!;
    pieces.push(e.op('MatMul', [probs, operand(site.av.inputs[1]!, smRank, c)]));
  }
  e.op('Concat', pieces, { axis: 0 }, site.av.outputs[0]!);
  return e;
}

/** Bytes of the node and initializer fields GraphBuilder-style specs encode to, by field. */
function encodeFields(nodes: NodeSpec[], inits: TensorSpec[]): { nodes: Uint8Array; inits: Uint8Array } {
  const { model } = encodeModel({
    graph: { name: 'lean', nodes, inputs: [], outputs: [], initializers: inits },
  });
  const graph = readFields(model, 0, model.length).find((f) => f.field === 7 && f.wire === LEN)!;
  const fields = readFields(model, graph.dataStart, graph.dataEnd);
  const pick = (n: number) =>
    concat(fields.filter((f) => f.field === n && f.wire === LEN).map((f) => model.subarray(f.start, f.end)));
  return { nodes: pick(1), inits: pick(5) };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function defaultOpset(buf: Uint8Array, top: ProtoField[]): number | undefined {
  for (const f of top) {
    if (f.field !== 8 || f.wire !== LEN) continue;
    let domain = '';
    let version: number | undefined;
    for (const x of readFields(buf, f.dataStart, f.dataEnd)) {
      if (x.field === 1 && x.wire === LEN) domain = str(buf, x);
      else if (x.field === 2 && x.wire === VARINT) version = Number(varint64(buf, x));
    }
    if ((domain === '' || domain === 'ai.onnx') && version !== undefined) return version;
  }
  return undefined;
}

function checkInt(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min)
    throw new RangeError(`${name}: expected an integer ≥ ${min}, received ${describeValue(value)}`);
  return value;
}

/**
 * Rewrites SAM's global-attention blocks of an ONNX encoder into the chunked, memory-lean
 * form. Graphs (or blocks) it does not recognise are returned unchanged, with the reason.
 *
 * @param model the .onnx file's bytes (external-data weights stay referenced as they are).
 * @throws TypeError/RangeError naming the parameter for non-bytes, malformed protobuf or bad options.
 * @example
 * ```ts
 * const r = leanAttention(readFileSync('sam_vit_b_encoder.onnx'));
 * if (r.rewritten === 0) console.warn(r.reason);
 * else writeFileSync('sam_vit_b_encoder.lean.onnx', r.model);
 * ```
 */
export function leanAttention(model: Uint8Array, options: LeanAttentionOptions = {}): LeanAttentionResult {
  if (!(model instanceof Uint8Array) || model.length === 0)
    throw new TypeError(
      `model: expected a non-empty Uint8Array with the .onnx file's bytes, received ${describeValue(model)}`,
    );
  if (options === null || typeof options !== 'object')
    throw new TypeError(`options: expected an object, received ${describeValue(options)}`);
  const chunks = checkInt('options.chunks', options.chunks ?? DEFAULT_LEAN_CHUNKS, 2);
  const minTokens = checkInt('options.minTokens', options.minTokens ?? 1024, 1);
  let externalData = false;
  const unchanged = (reason: string, sites: AttentionSite[] = []): LeanAttentionResult => ({
    model,
    rewritten: 0,
    chunks,
    externalData,
    sites,
    reason,
  });
  try {
    const top = readFields(model, 0, model.length);
    const graphs = top.filter((f) => f.field === 7 && f.wire === LEN);
    if (graphs.length !== 1) return unchanged('not an ONNX model with one main graph');
    const opset = defaultOpset(model, top);
    if (opset === undefined || opset < 11)
      return unchanged(`the model imports ai.onnx opset ${opset ?? 'none'}; the rewrite needs 11 or later`);
    const g = new GraphView(model, graphs[0]!, opset);
    externalData = g.externalData;

    const sites: AttentionSite[] = [];
    const matched: Site[] = [];
    for (const n of g.nodes) {
      if (n.opType !== 'Softmax' || n.domain !== '') continue;
      const m = matchSite(g, n, minTokens);
      const label = n.name || n.outputs[0]!;
      if ('skipped' in m)
        sites.push({ softmax: label, ...(m.grid ? { grid: m.grid } : {}), skipped: m.skipped });
      else {
        sites.push({ softmax: label, grid: m.grid });
        matched.push(m);
      }
    }
    if (sites.length === 0)
      return unchanged('no attention subgraph (Softmax → MatMul) in this graph; not a ViT encoder');
    if (matched.length === 0) {
      const reasons = [...new Set(sites.map((s) => s.skipped))];
      return unchanged(
        `no SAM global-attention block recognised (${sites.length} softmax site${sites.length === 1 ? '' : 's'}: ${reasons.join('; ')})`,
        sites,
      );
    }

    // Replace: drop each site's nodes, put its new nodes where its final MatMul stood.
    const removed = new Set<number>();
    const insertAt = new Map<number, Uint8Array>();
    const newInits: Uint8Array[] = [];
    matched.forEach((site, i) => {
      for (const n of [site.qk, ...site.steps.map((s) => s.node), site.softmax, site.av])
        removed.add(n.index);
      const e = emitSite(g, site, chunks, `lean_attention_${i}`);
      const enc = encodeFields(e.nodes, e.inits);
      insertAt.set(site.av.index, enc.nodes);
      newInits.push(enc.inits);
    });
    const byStart = new Map(g.nodes.map((n) => [n.field.start, n]));
    const body: Uint8Array[] = [];
    for (const f of readFields(model, graphs[0]!.dataStart, graphs[0]!.dataEnd)) {
      if (f.field === 1 && f.wire === LEN) {
        const node = byStart.get(f.start)!;
        if (insertAt.has(node.index)) body.push(insertAt.get(node.index)!);
        if (removed.has(node.index)) continue;
      }
      body.push(model.subarray(f.start, f.end));
    }
    body.push(...newInits);
    const graphPayload = concat(body);
    const parts: Uint8Array[] = [];
    for (const f of top) {
      if (f !== graphs[0]) {
        parts.push(model.subarray(f.start, f.end));
        continue;
      }
      const tagEnd = readVarint(model, f.start, f.end).next;
      parts.push(
        model.subarray(f.start, tagEnd),
        new ProtoWriter(10).varint(graphPayload.length).finish(),
        graphPayload,
      );
    }
    return { model: concat(parts), rewritten: matched.length, chunks, sites, externalData };
  } catch (e) {
    if (e instanceof MalformedProtobuf)
      throw new RangeError(`model: not a valid ONNX protobuf (${e.message})`);
    throw e;
  }
}
