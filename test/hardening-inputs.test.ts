/**
 * Issue 15 — inputs and options are snapshotted when the call is made (the README says
 * so): changing a buffer after `segment()` / `createReference()` / `readImage(buffer)`
 * has returned its promise must not change what is processed, and a getter or Proxy
 * must not show the validation one value and the native code another (a forged
 * `Embedding.fromData` meta of 32768² passed the 200 Mpx cap that way; NaN box
 * coordinates and point label 7 reached the decoder).
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Embedding, P2SAM, readImage, type Reference } from '../lib';
import { makeScene } from '../lib/testkit/scenes';
import { testkitModel } from './helpers';

const W = 320;
const H = 240;
const ref = makeScene({ width: W, height: H, seed: 4, scale: 0.55 });
const target = makeScene({ width: W, height: H, seed: 4, noiseSeed: 2, center: [0.55, 0.5], scale: 0.55 });
const PARTS = { min: 1, max: 3 };

let model: P2SAM;
let reference: Reference;

beforeAll(async () => {
  model = await P2SAM.load({ ...(await testkitModel()), threads: 1, concurrency: 1 });
  reference = await model.createReference({ image: ref.image, mask: ref.mask }, { parts: PARTS });
});

afterAll(async () => {
  await model?.dispose();
});

function copyImage<T extends { data: Uint8Array | Uint8ClampedArray }>(x: T): T {
  return { ...x, data: new Uint8Array(x.data) };
}

describe('buffers changed after the call returned', () => {
  it('segment(image): the image as it was at the call is segmented', async () => {
    const expected = await model.segment(target.image, { reference });
    const img = copyImage(target.image);
    const pending = model.segment(img, { reference });
    img.data.fill(0);
    const got = await pending;
    expect(Buffer.from(got.mask).equals(Buffer.from(expected.mask))).toBe(true);
  });

  it('createReference({ image, mask }): the reference is made from the inputs at the call', async () => {
    const img = copyImage(ref.image);
    const mask = copyImage(ref.mask);
    const pending = model.createReference({ image: img, mask }, { parts: PARTS });
    img.data.fill(0);
    mask.data.fill(1);
    const got = await pending;
    expect(got.foregroundCells).toBe(reference.foregroundCells);
    expect(Buffer.from(got.grid).equals(Buffer.from(reference.grid))).toBe(true);
  });

  it('readImage(buffer): the bytes at the call are decoded', async () => {
    const png = await sharp(Buffer.from(target.image.data), { raw: { width: W, height: H, channels: 3 } })
      .png()
      .toBuffer();
    const expected = await readImage(png);
    const bytes = Buffer.from(png);
    const pending = readImage(bytes);
    bytes.fill(0);
    const got = await pending;
    expect(Buffer.from(got.data).equals(Buffer.from(expected.data))).toBe(true);
  });
});

/** A value that reads `first` for its first `honest` reads, then `later`. */
function flipping<T>(first: T, later: T, honest = 1): { get: () => T; reads: () => number } {
  let n = 0;
  return { get: () => (n++ < honest ? first : later), reads: () => n };
}

describe('getters and Proxies read again after validation', () => {
  it('Embedding.fromData: a meta getter cannot pass the pixel cap and then grow', () => {
    const data = new Float32Array(256 * 64 * 64);
    // Two honest reads: enough to pass the old checks (value, then the product).
    const w = flipping(1000, 32768, 2);
    const h = flipping(1000, 32768, 2);
    const meta = {
      get origWidth() {
        return w.get();
      },
      get origHeight() {
        return h.get();
      },
      inputWidth: 1024,
      inputHeight: 1024,
    };
    let emb: Embedding | undefined;
    try {
      emb = Embedding.fromData(data, meta);
    } catch (e) {
      // Refusing is fine too; what may not happen is a 32768² embedding.
      expect(e).toBeInstanceOf(RangeError);
      return;
    }
    expect(emb.width * emb.height).toBeLessThanOrEqual(200_000_000);
    expect(emb.width).toBe(1000);
    expect(w.reads()).toBe(1);
    emb.dispose();
  });

  it('predict: box coordinates and point labels are the ones validated', async () => {
    const emb = await model.encode(target.image);
    const box: [number, number, number, number] = [60, 50, 250, 200];
    const expected = await model.predict(emb, { points: [{ x: 170, y: 120, label: 1 }], box });
    // Honest for as many reads as the old validation made; the decoder would get 7.
    const label = flipping<number>(1, 7, 2);
    const seen = new Set<string>();
    let rereads = 0;
    // Every element turns into NaN after its first read.
    const proxyBox = new Proxy([...box], {
      get(t, k, r) {
        if (typeof k === 'string' && /^\d$/.test(k)) {
          if (seen.has(k)) {
            rereads++;
            return NaN;
          }
          seen.add(k);
        }
        return Reflect.get(t, k, r);
      },
    }) as unknown as [number, number, number, number];
    const point = {
      x: 170,
      y: 120,
      get label(): 0 | 1 {
        return label.get() as 0 | 1;
      },
    };
    let got: Awaited<ReturnType<P2SAM['predict']>>;
    try {
      got = await model.predict(emb, { points: [point], box: proxyBox });
    } catch (e) {
      expect(e).toBeInstanceOf(RangeError);
      emb.dispose();
      return;
    }
    expect(Buffer.from(got.lowRes.buffer).equals(Buffer.from(expected.lowRes.buffer))).toBe(true);
    // What reached the decoder is what was validated: each value was read once.
    expect(rereads).toBe(0);
    expect(label.reads()).toBe(1);
    emb.dispose();
  });
});
