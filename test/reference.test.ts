/**
 * The reference as a native handle (lib/reference.ts, native/runtime/reference*.cpp):
 * what crosses into the addon per segment() call, save/restore through the versioned
 * format, refusal of corrupt or foreign data, and dispose while a segment runs.
 */
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { type Embedding, P2SAM, P2SamError, Reference, type SegmentResult } from '../lib';
import { native } from '../lib/native';
import { makeScene } from '../lib/testkit/scenes';
import { testkitModel } from './helpers';

const W = 320;
const H = 240;
const PARTS = { min: 1, max: 3 };
const small = makeScene({ width: W, height: H, seed: 5, scale: 0.25 });
const large = makeScene({ width: W, height: H, seed: 5, scale: 0.8 });
const target = makeScene({ width: W, height: H, seed: 5, noiseSeed: 9, center: [0.55, 0.5], scale: 0.5 });

let paths: { encoder: string; decoder: string };
let model: P2SAM;
let targetEmbedding: Embedding;

beforeAll(async () => {
  paths = await testkitModel();
  model = await P2SAM.load({ ...paths, threads: 2 });
  targetEmbedding = await model.encode(target.image);
});

afterAll(async () => {
  targetEmbedding?.dispose();
  await model?.dispose();
});

function sameResult(a: SegmentResult, b: SegmentResult): void {
  expect(Buffer.from(a.mask).equals(Buffer.from(b.mask))).toBe(true);
  expect(a.parts).toBe(b.parts);
  expect(a.points).toEqual(b.points);
  expect(a.candidates.map((c) => c.score)).toEqual(b.candidates.map((c) => c.score));
}

/** Bytes the addon copies in from JS buffers while `fn` runs. */
async function copiedIn(fn: () => Promise<unknown>): Promise<number> {
  const before = native().copiedInBytes();
  await fn();
  return native().copiedInBytes() - before;
}

// ---- the saved format, rebuilt here from its documented layout (reference_format.hpp)
const HEADER = 20;
function fnv1a(bytes: Uint8Array): bigint {
  let h = 1469598103934665603n;
  for (const b of bytes) h = ((h ^ BigInt(b)) * 1099511628211n) & 0xffffffffffffffffn;
  return h;
}
/** Rewrites the checksum after an edit of the payload, so only the edit is judged. */
function reseal(data: Uint8Array): Uint8Array {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const length = Number(view.getBigUint64(12, true));
  view.setBigUint64(HEADER + length, fnv1a(data.subarray(HEADER, HEADER + length)), true);
  return data;
}
function identityLength(data: Uint8Array): number {
  return new DataView(data.buffer, data.byteOffset).getUint32(HEADER + 1 + 4 + 4 + 8, true);
}
/** Offset of the first grid cell. */
function gridOffset(data: Uint8Array): number {
  return HEADER + 1 + 4 + 4 + 8 + 4 + identityLength(data);
}

async function fromDataError(data: Uint8Array): Promise<P2SamError> {
  try {
    Reference.fromData(data);
  } catch (e) {
    expect(e).toBeInstanceOf(P2SamError);
    return e as P2SamError;
  }
  throw new Error('fromData accepted the data');
}

describe('what one segment() call copies into the addon', () => {
  it('the same bytes for references of very different sizes: handles cross, features do not', async () => {
    const a = await model.createReference({ image: small.image, mask: small.mask }, { parts: PARTS });
    const b = await model.createReference({ image: large.image, mask: large.mask }, { parts: PARTS });
    expect(b.foregroundCells).toBeGreaterThanOrEqual(4 * a.foregroundCells);
    const bytesA = await copiedIn(() => model.segment(targetEmbedding, { reference: a }));
    const bytesB = await copiedIn(() => model.segment(targetEmbedding, { reference: b }));
    expect(bytesA).toBe(bytesB);
    // Less than one copy of even the small reference's features (4 bytes × 256 per cell):
    // what is left is the candidates' prompt points.
    expect(bytesA).toBeGreaterThan(0);
    expect(bytesA).toBeLessThan(4 * 256 * a.foregroundCells);
    a.dispose();
    b.dispose();
  });

  it('the counter measures real copies: encoding an image copies exactly its pixels', async () => {
    let e: Embedding | undefined;
    const bytes = await copiedIn(async () => (e = await model.encode(target.image)));
    expect(bytes).toBe(target.image.width * target.image.height * target.image.channels);
    e!.dispose();
  });

  it('createReference is one native task: the mask goes in once, nothing else', async () => {
    const emb = await model.encode(large.image);
    const bytes = await copiedIn(() =>
      model.createReference({ image: emb, mask: large.mask }, { parts: PARTS }).then((r) => r.dispose()),
    );
    expect(bytes).toBe(W * H);
    emb.dispose();
  });
});

describe('toData / fromData', () => {
  for (const mode of ['natural', 'medical'] as const) {
    it(`a restored ${mode} reference segments exactly like the original, on this model and a second one`, async () => {
      const ref = await model.createReference(
        { image: large.image, mask: large.mask },
        { parts: PARTS, mode, seed: 7 },
      );
      const data = ref.toData();
      expect(Buffer.from(data.subarray(0, 8)).toString('latin1')).toBe('P2SAMREF');
      const restored = Reference.fromData(data);
      expect(restored.summary()).toEqual(ref.summary());
      expect(Buffer.from(restored.grid).equals(Buffer.from(ref.grid))).toBe(true);
      expect(restored.contents()).toEqual(ref.contents());
      expect(restored.timings.totalMs).toBe(0);
      expect(Buffer.from(restored.toData()).equals(Buffer.from(data))).toBe(true);
      const original = await model.segment(targetEmbedding, { reference: ref });
      sameResult(await model.segment(targetEmbedding, { reference: restored }), original);
      // A clinic's later process: another model loaded from the same files.
      const later = await P2SAM.load({ ...paths, threads: 2 });
      sameResult(await later.segment(target.image, { reference: Reference.fromData(data) }), original);
      // A reference made by that model is still tied to it.
      const own = await later.createReference(
        { image: large.image, mask: large.mask },
        { parts: PARTS, mode },
      );
      await expect(model.segment(targetEmbedding, { reference: own })).rejects.toMatchObject({
        code: 'MODEL_MISMATCH',
      });
      await later.dispose();
      ref.dispose();
      restored.dispose();
    });
  }

  it('corrupt, truncated, foreign-format and newer-version data are coded errors', async () => {
    const ref = await model.createReference({ image: small.image, mask: small.mask }, { parts: PARTS });
    const good = ref.toData();
    const copy = () => new Uint8Array(good);

    expect(() => Reference.fromData('nope' as never)).toThrow(TypeError);
    expect((await fromDataError(new Uint8Array(0))).code).toBe('REFERENCE_DATA_INVALID');
    expect((await fromDataError(new TextEncoder().encode('{"not":"a reference"}'))).message).toMatch(
      /P2SAMREF signature/,
    );
    expect((await fromDataError(good.subarray(0, good.length - 100))).message).toMatch(/truncated/);

    const flipped = copy();
    flipped[gridOffset(flipped) + 4096 + 8 + 40] ^= 0x10; // one bit of one feature
    expect((await fromDataError(flipped)).message).toMatch(/checksum/);

    const newer = copy();
    new DataView(newer.buffer).setUint32(8, 2, true);
    const v = await fromDataError(newer);
    expect(v.code).toBe('REFERENCE_VERSION_UNSUPPORTED');
    expect(v.message).toMatch(/version 2/);

    // Sealed again after the edit: the contents checks, not the checksum, must catch these.
    const badCell = copy();
    badCell[gridOffset(badCell) + 100] = 2;
    expect((await fromDataError(reseal(badCell))).message).toMatch(/grid cell/);
    const nan = copy();
    new DataView(nan.buffer).setFloat32(gridOffset(nan) + 4096 + 8, NaN, true);
    expect((await fromDataError(reseal(nan))).message).toMatch(/non-finite/);
    const countOff = copy();
    new DataView(countOff.buffer).setInt32(gridOffset(countOff) + 4096, ref.foregroundCells + 1, true);
    expect((await fromDataError(reseal(countOff))).message).toMatch(/cell counts/);
    ref.dispose();
  });

  it('data saved from another encoder is refused by segment() as MODEL_MISMATCH', async () => {
    const ref = await model.createReference({ image: small.image, mask: small.mask }, { parts: PARTS });
    const data = new Uint8Array(ref.toData());
    const at = HEADER + 1 + 4 + 4 + 8 + 4;
    data[at] = data[at] === 0x41 ? 0x42 : 0x41; // another encoder's identity string
    const foreign = Reference.fromData(reseal(data));
    const err = await model.segment(targetEmbedding, { reference: foreign }).catch((e) => e);
    expect(err).toBeInstanceOf(P2SamError);
    expect(err.code).toBe('MODEL_MISMATCH');
    expect(err.message).toMatch(/different encoder/);
    ref.dispose();
  });
});

describe('dispose of a reference', () => {
  it('during a running segment: that call completes unchanged, later ones are DISPOSED', async () => {
    const ref = await model.createReference({ image: large.image, mask: large.mask }, { parts: PARTS });
    const keep = Reference.fromData(ref.toData());
    const baseline = await model.segment(targetEmbedding, { reference: keep });
    const running = model.segment(targetEmbedding, { reference: ref });
    ref.dispose();
    expect(ref.disposed).toBe(true);
    sameResult(await running, baseline);
    await expect(model.segment(targetEmbedding, { reference: ref })).rejects.toMatchObject({
      code: 'DISPOSED',
    });
    expect(() => ref.toData()).toThrow(/disposed/);
    ref.dispose();
    keep.dispose();
  });
});
