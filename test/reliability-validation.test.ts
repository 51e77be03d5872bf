/**
 * Issue 6 — hostile input at the public boundary.
 *
 * Property tests (fast-check) throw random and malformed values at every public entry
 * point and compare the outcome with an independent oracle of the documented contract:
 * a wrong type is a TypeError, a value out of range a RangeError, and either one names
 * the parameter ("<name> must …; received …"). Valid arguments must get past the
 * validators; to keep that cheap, those calls carry an already-aborted signal, so a
 * valid call rejects with exactly that signal's reason before any native work.
 *
 * Runtime failures (corrupt images, random bytes as ONNX, a decoder with wrong input
 * names, an encoder that emits NaN) must be P2SamErrors with a stable code. The file
 * ends by checking the process is healthy: no unhandled rejection or uncaught exception
 * happened, and the model still segments correctly.
 */
import { writeFileSync } from 'node:fs';
import { existsSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { core, Embedding, P2SAM, P2SamError, Reference } from '../lib';
import { readImage, readMask } from '../lib/io/image';
import { GraphBuilder } from '../lib/onnx/graph';
import { encodeTestkitGraph, testkitFixtureBytes } from '../lib/testkit';
import { makeScene } from '../lib/testkit/scenes';
import { MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE } from '../lib/validate';
import { CLI, ensureBuilt, runCli } from './cli-helpers';
import { maskIou, tempDir, testkitModel } from './helpers';

// ---- process health ---------------------------------------------------------------------

const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);
process.on('unhandledRejection', onUnhandled);
process.on('uncaughtException', onUnhandled);

// ---- the oracle --------------------------------------------------------------------------

type ErrorClass = typeof TypeError | typeof RangeError;
/** One way an argument breaks the contract: which parameter, and which error class. */
interface Failure {
  param: string;
  cls: ErrorClass;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

function intFailures(param: string, value: unknown, lo: number, hi: number, optional = true): Failure[] {
  if (value === undefined && optional) return [];
  if (typeof value !== 'number') return [{ param, cls: TypeError }];
  if (!Number.isInteger(value) || value < lo || value > hi) return [{ param, cls: RangeError }];
  return [];
}

function numberFailures(
  param: string,
  value: unknown,
  lo: number,
  hi: number,
  exclusiveLo: boolean,
  optional = true,
): Failure[] {
  if (value === undefined && optional) return [];
  if (typeof value !== 'number') return [{ param, cls: TypeError }];
  if (!Number.isFinite(value) || value < lo || value > hi || (exclusiveLo && value === lo))
    return [{ param, cls: RangeError }];
  return [];
}

function oneOfFailures(param: string, value: unknown, allowed: readonly string[]): Failure[] {
  if (value === undefined) return [];
  if (typeof value !== 'string') return [{ param, cls: TypeError }];
  return allowed.includes(value) ? [] : [{ param, cls: RangeError }];
}

function boolFailures(param: string, value: unknown): Failure[] {
  return value === undefined || typeof value === 'boolean' ? [] : [{ param, cls: TypeError }];
}

function funcFailures(param: string, value: unknown): Failure[] {
  return value === undefined || typeof value === 'function' ? [] : [{ param, cls: TypeError }];
}

function signalFailures(param: string, value: unknown): Failure[] {
  return value === undefined || value instanceof AbortSignal ? [] : [{ param, cls: TypeError }];
}

function rangeFailures(param: string, value: unknown, lo: number, hi: number): Failure[] {
  if (value === undefined) return [];
  if (typeof value === 'number') return intFailures(param, value, lo, hi);
  if (!isPlainObject(value)) return [{ param, cls: TypeError }];
  const f = [
    ...intFailures(`${param}.min`, value.min, lo, hi, false),
    ...intFailures(`${param}.max`, value.max, lo, hi, false),
  ];
  if (f.length) return f;
  return (value.min as number) > (value.max as number) ? [{ param: `${param}.min`, cls: RangeError }] : [];
}

function sizeFailures(param: string, width: unknown, height: unknown): Failure[] {
  const f = [
    ...intFailures(`${param}.width`, width, 1, MAX_IMAGE_SIDE, false),
    ...intFailures(`${param}.height`, height, 1, MAX_IMAGE_SIDE, false),
  ];
  if (f.length === 0 && (width as number) * (height as number) > MAX_IMAGE_PIXELS)
    f.push({ param, cls: RangeError });
  return f;
}

function imageFailures(param: string, value: unknown): Failure[] {
  if (!isPlainObject(value)) return [{ param, cls: TypeError }];
  const { data, width, height, channels } = value;
  const f: Failure[] = [];
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray))
    f.push({ param: `${param}.data`, cls: TypeError });
  f.push(...sizeFailures(param, width, height));
  if (channels !== 1 && channels !== 3 && channels !== 4)
    f.push({ param: `${param}.channels`, cls: typeof channels === 'number' ? RangeError : TypeError });
  if (f.length) return f;
  if ((data as Uint8Array).length !== (width as number) * (height as number) * (channels as number))
    f.push({ param: `${param}.data`, cls: RangeError });
  return f;
}

function maskFailures(param: string, value: unknown): Failure[] {
  if (!isPlainObject(value)) return [{ param, cls: TypeError }];
  const { data, width, height } = value;
  const f: Failure[] = [];
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray))
    f.push({ param: `${param}.data`, cls: TypeError });
  f.push(...sizeFailures(param, width, height));
  if (f.length) return f;
  if ((data as Uint8Array).length !== (width as number) * (height as number))
    f.push({ param: `${param}.data`, cls: RangeError });
  return f;
}

/** The error is one of the predicted failures: right class, message naming that parameter. */
function expectOneOf(err: unknown, failures: Failure[]): void {
  expect(failures.length).toBeGreaterThan(0);
  expect(
    err instanceof TypeError || err instanceof RangeError,
    `expected TypeError/RangeError, got ${String(err)}`,
  ).toBe(true);
  const e = err as Error;
  const match = failures.find(
    (f) => e instanceof f.cls && e.constructor === f.cls && e.message.startsWith(`${f.param} `),
  );
  expect(
    match,
    `"${e.constructor.name}: ${e.message}" matches none of ${failures.map((f) => `${f.cls.name}(${f.param})`).join(', ')}`,
  ).toBeDefined();
  // "…what was expected and what arrived".
  expect(e.message).toMatch(/must/);
  expect(e.message).toMatch(/received|; element \d+ is /);
}

async function outcome(
  p: () => Promise<unknown>,
): Promise<{ ok: true; value: unknown } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await p() };
  } catch (error) {
    return { ok: false, error };
  }
}

// ---- arbitraries -------------------------------------------------------------------------

/** Anything a caller could pass by mistake, including values that break naive string formatting. */
const junk = fc.oneof(
  fc.constantFrom(
    undefined,
    null,
    true,
    false,
    NaN,
    Infinity,
    -Infinity,
    -0,
    0.5,
    1e300,
    -1,
    2 ** 31,
    2 ** 53,
    '',
    '3',
    'auto',
    10n,
  ),
  fc.string({ maxLength: 6 }),
  fc.double(),
  fc.integer({ min: -3, max: 70 }),
  fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 3 }),
  fc.dictionary(
    fc.constantFrom('min', 'max', 'x'),
    fc.oneof(fc.integer({ min: -2, max: 20 }), fc.constant(NaN), fc.string({ maxLength: 2 })),
  ),
  fc.constant(Symbol('junk')),
  fc.constant(() => 0),
  fc.constant(Object.create(null) as object),
  fc.uint8Array({ maxLength: 4 }),
  fc.constant(new Float32Array(2)),
);

/** Mostly sensible values for an option, sometimes junk. */
function optionValue(good: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 2, arbitrary: good },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: junk },
  );
}

const dimension = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 48 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      0,
      -1,
      1.5,
      NaN,
      Infinity,
      MAX_IMAGE_SIDE,
      MAX_IMAGE_SIDE + 1,
      14_142,
      14_143,
      20_000,
      2 ** 31,
      1e12,
    ),
  },
  { weight: 1, arbitrary: junk },
);

/** An image-like value: well-formed about half the time; otherwise broken in one or more ways. */
function imageLike(channelsOk: readonly number[]): fc.Arbitrary<unknown> {
  const good = fc
    .record({
      width: fc.integer({ min: 1, max: 40 }),
      height: fc.integer({ min: 1, max: 40 }),
      channels: fc.constantFrom(...channelsOk),
    })
    .chain(({ width, height, channels }) =>
      fc
        .uint8Array({ minLength: width * height * channels, maxLength: width * height * channels })
        .map((data) => ({ data, width, height, channels })),
    );
  const broken = fc
    .record({
      width: dimension,
      height: dimension,
      channels: fc.oneof(fc.constantFrom(1, 2, 3, 4, 5, 0, '3', NaN), junk),
      dataKind: fc.constantFrom('exact', 'short', 'long', 'clamped', 'int8', 'array', 'junk'),
      junkData: junk,
    })
    .map(({ width, height, channels, dataKind, junkData }) => {
      const n =
        typeof width === 'number' && typeof height === 'number' && typeof channels === 'number'
          ? width * height * channels
          : NaN;
      const len = Number.isInteger(n) && n >= 0 && n <= 40 * 40 * 4 ? n : 16; // never allocate for absurd sizes
      const data =
        dataKind === 'exact'
          ? new Uint8Array(len)
          : dataKind === 'short'
            ? new Uint8Array(Math.max(0, len - 1))
            : dataKind === 'long'
              ? new Uint8Array(len + 3)
              : dataKind === 'clamped'
                ? new Uint8ClampedArray(len)
                : dataKind === 'int8'
                  ? new Int8Array(len)
                  : dataKind === 'array'
                    ? Array.from({ length: Math.min(len, 8) }, () => 0)
                    : junkData;
      return { data, width, height, channels };
    });
  return fc.oneof(good, broken, junk);
}

// ---- fixtures ----------------------------------------------------------------------------

const REASON = new Error('reliability: pre-aborted');
const preAborted = (() => {
  const c = new AbortController();
  c.abort(REASON);
  return c.signal;
})();

const W = 320;
const H = 240;
const scene = makeScene({ width: W, height: H, seed: 5, scale: 0.55 });
const target = makeScene({ width: W, height: H, seed: 5, noiseSeed: 9, center: [0.55, 0.5], scale: 0.5 });

let paths: { encoder: string; decoder: string };
let model: P2SAM;
let ref: Reference;
let pngBytes: Buffer;
let jpegBytes: Buffer;
let maskPngBytes: Buffer;

beforeAll(async () => {
  paths = await testkitModel();
  model = await P2SAM.load({ ...paths, threads: 2 });
  ref = await model.createReference({ image: scene.image, mask: scene.mask }, { parts: { min: 1, max: 3 } });
  const raw = { raw: { width: W, height: H, channels: 3 as const } };
  pngBytes = await sharp(scene.image.data, raw).png().toBuffer();
  jpegBytes = await sharp(scene.image.data, raw).jpeg({ quality: 90 }).toBuffer();
  maskPngBytes = await sharp(Buffer.from(scene.mask.data.map((v) => v * 255)), {
    raw: { width: W, height: H, channels: 1 },
  })
    .toColourspace('b-w')
    .png()
    .toBuffer();
});

afterAll(async () => {
  await model?.dispose();
  process.off('unhandledRejection', onUnhandled);
  process.off('uncaughtException', onUnhandled);
});

// ---- tests -------------------------------------------------------------------------------

describe('P2SAM.load options', () => {
  it('every option is type- and range-checked before the native loader runs', async () => {
    const notOnnx = testkitFixtureBytes('not-onnx');
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          {
            threads: optionValue(fc.integer({ min: 1, max: 8 })),
            concurrency: optionValue(fc.integer({ min: 1, max: 64 })),
            normalization: optionValue(fc.constantFrom('sam', 'medsam', 'SAM')),
            device: optionValue(fc.constantFrom('auto', 'cpu', 'gpu')),
            graphOptimization: optionValue(fc.constantFrom('disabled', 'basic', 'extended', 'all', 'max')),
            memoryPattern: optionValue(fc.boolean()),
            cpuArena: optionValue(fc.boolean()),
            onWarning: optionValue(fc.constant(() => undefined)),
          },
          { requiredKeys: [] },
        ),
        async (o) => {
          const failures = [
            ...intFailures('options.threads', o.threads, 1, 1024),
            ...oneOfFailures('options.normalization', o.normalization, ['sam', 'medsam']),
            ...oneOfFailures('options.device', o.device, ['auto', 'cpu', 'cuda']),
            ...oneOfFailures('options.graphOptimization', o.graphOptimization, [
              'disabled',
              'basic',
              'extended',
              'all',
            ]),
            ...boolFailures('options.memoryPattern', o.memoryPattern),
            ...boolFailures('options.cpuArena', o.cpuArena),
            ...intFailures('options.concurrency', o.concurrency, 1, 64),
            ...funcFailures('options.onWarning', o.onWarning),
          ];
          // With valid options the (deliberately broken) encoder bytes reach the native
          // loader, which must refuse them with a runtime code.
          const r = await outcome(() =>
            P2SAM.load({ ...o, encoder: notOnnx, decoder: paths.decoder } as never),
          );
          expect(r.ok).toBe(false);
          if (!r.ok) {
            if (failures.length) expectOneOf(r.error, failures);
            else expect(r.error).toMatchObject({ name: 'P2SamError', code: 'MODEL_INVALID' });
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('options itself and the model sources must have the right shape', async () => {
    await fc.assert(
      fc.asyncProperty(junk, async (value) => {
        // options = junk
        const r1 = await outcome(() => P2SAM.load(value as never));
        if (!isPlainObject(value))
          expectOneOf((r1 as { error: unknown }).error, [{ param: 'options', cls: TypeError }]);
        // encoder = junk (a non-empty string is a path that does not exist: MODEL_NOT_FOUND)
        const r2 = await outcome(() => P2SAM.load({ encoder: value, decoder: paths.decoder } as never));
        expect(r2.ok).toBe(false);
        const e2 = (r2 as { error: unknown }).error;
        if (typeof value === 'string' && value.length > 0)
          expect(e2).toMatchObject({ code: 'MODEL_NOT_FOUND' });
        else if (value instanceof Uint8Array && value.length > 0)
          expect((e2 as P2SamError).code).toMatch(/^MODEL_(INVALID|UNSUPPORTED)$/);
        else if (value instanceof Uint8Array)
          expectOneOf(e2, [{ param: 'options.encoder', cls: RangeError }]);
        else expectOneOf(e2, [{ param: 'options.encoder', cls: TypeError }]);
      }),
      { numRuns: 120 },
    );
  });
});

describe('images and masks', () => {
  it('encode: any image-like value is refused with the right error or accepted; absurd sizes never allocate', async () => {
    await fc.assert(
      fc.asyncProperty(imageLike([1, 3, 4]), async (img) => {
        const failures = imageFailures('image', img);
        const r = await outcome(() => model.encode(img as never, { signal: preAborted }));
        expect(r.ok).toBe(false);
        if (!r.ok) {
          if (failures.length) expectOneOf(r.error, failures);
          else expect(r.error).toMatchObject({ code: 'ABORTED', cause: REASON });
        }
      }),
      { numRuns: 400 },
    );
  });

  it('sizes beyond 32768 per side or 200 Mpixel are RangeErrors naming the limit, whatever the buffer', async () => {
    const tiny = new Uint8Array(3);
    const cases: [number, number, RegExp][] = [
      [MAX_IMAGE_SIDE + 1, 10, /image\.width must be an integer in 1\.\.32768; received 32769/],
      [10, 100_000, /image\.height must be an integer in 1\.\.32768; received 100000/],
      [20_000, 20_000, /image must have at most 200000000 pixels; received 20000×20000 = 400000000/],
      [0, 10, /image\.width must be an integer in 1\.\.32768; received 0/],
    ];
    const before = process.memoryUsage().rss;
    for (const [w, h, re] of cases) {
      const e = await model.encode({ data: tiny, width: w, height: h, channels: 3 }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(RangeError);
      expect((e as Error).message).toMatch(re);
    }
    // 20000×20000×3 would be 1.2 GB had anything been allocated for it.
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 2 ** 20);
  });

  it('createReference: masks of any shape are checked; empty ones are EMPTY_REFERENCE; sizes must match', async () => {
    const maskLike = fc.oneof(
      fc
        .record({
          width: fc.constantFrom(W, W - 1, 16),
          height: fc.constantFrom(H, 16),
          fill: fc.constantFrom(0, 1, 255),
          kind: fc.constantFrom('u8', 'clamped', 'short', 'float'),
        })
        .map(({ width, height, fill, kind }) => {
          const n = width * height;
          const data =
            kind === 'u8'
              ? new Uint8Array(n).fill(fill)
              : kind === 'clamped'
                ? new Uint8ClampedArray(n).fill(fill)
                : kind === 'short'
                  ? new Uint8Array(n - 1).fill(fill)
                  : new Float32Array(n).fill(fill);
          return { data, width, height };
        }),
      imageLike([1]).map((m) => (isPlainObject(m) ? { data: m.data, width: m.width, height: m.height } : m)),
    );
    await fc.assert(
      fc.asyncProperty(maskLike, async (mask) => {
        const failures = maskFailures('input.mask', mask);
        const r = await outcome(() =>
          model.createReference({ image: scene.image, mask: mask as never }, { signal: preAborted }),
        );
        expect(r.ok).toBe(false);
        if (r.ok) return;
        if (failures.length) return expectOneOf(r.error, failures);
        const m = mask as { data: Uint8Array; width: number; height: number };
        if (m.width !== W || m.height !== H) {
          expect(r.error).toMatchObject({ code: 'MASK_SIZE_MISMATCH' });
          expect((r.error as Error).message).toContain(`${m.width}×${m.height}`);
        } else if (m.data.every((v) => v === 0)) expect(r.error).toMatchObject({ code: 'EMPTY_REFERENCE' });
        else expect(r.error).toMatchObject({ code: 'ABORTED', cause: REASON });
      }),
      { numRuns: 200 },
    );
  });

  it('an empty mask, and a full mask on a square image, are EMPTY_REFERENCE errors that say why', async () => {
    const empty = await model
      .createReference({ image: scene.image, mask: { data: new Uint8Array(W * H), width: W, height: H } })
      .catch((e: unknown) => e);
    expect(empty).toBeInstanceOf(P2SamError);
    expect(empty).toMatchObject({ code: 'EMPTY_REFERENCE' });
    // Square: nothing is padded, so the centred mask (docs/algorithm.md §2.2) is 0 everywhere. (On a
    // non-square image the padding is background and a full mask is a valid reference.)
    const sq = makeScene({ width: 128, height: 128, seed: 2 });
    const full = await model
      .createReference({
        image: sq.image,
        mask: { data: new Uint8Array(128 * 128).fill(1), width: 128, height: 128 },
      })
      .catch((e: unknown) => e);
    expect(full).toBeInstanceOf(P2SamError);
    expect(full).toMatchObject({ code: 'EMPTY_REFERENCE' });
    expect((full as Error).message).toMatch(/whole image/);
  });

  it('random rectangles as reference masks: a usable Reference or EMPTY_REFERENCE, never NaN', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          x: fc.integer({ min: 0, max: W - 1 }),
          y: fc.integer({ min: 0, max: H - 1 }),
          w: fc.integer({ min: 1, max: W }),
          h: fc.integer({ min: 1, max: H }),
        }),
        async ({ x, y, w, h }) => {
          const data = new Uint8Array(W * H);
          for (let yy = y; yy < Math.min(H, y + h); yy++)
            data.fill(1, yy * W + x, yy * W + Math.min(W, x + w));
          const r = await outcome(() =>
            model.createReference(
              { image: scene.image, mask: { data, width: W, height: H } },
              { parts: { min: 1, max: 3 }, restarts: 2 },
            ),
          );
          if (!r.ok) {
            expect(r.error).toMatchObject({ code: 'EMPTY_REFERENCE' });
            return;
          }
          const rf = r.value as Reference;
          expect(rf.foregroundCells).toBeGreaterThan(0);
          for (const s of rf.contents().partSets) expect(s.prototypes.every(Number.isFinite)).toBe(true);
        },
      ),
      { numRuns: 12 },
    );
  });

  it('readImage / readMask: corrupt, truncated and random bytes are IMAGE_READ_FAILED, never garbage', async () => {
    const files = { png: () => pngBytes, jpeg: () => jpegBytes, mask: () => maskPngBytes };
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('png', 'jpeg', 'mask') as fc.Arbitrary<keyof typeof files>,
        fc.oneof(
          fc.record({
            kind: fc.constant('truncate' as const),
            at: fc.double({ min: 0.02, max: 0.8, noNaN: true }),
          }),
          fc.record({
            kind: fc.constant('flip' as const),
            at: fc.double({ min: 0.05, max: 0.95, noNaN: true }),
            bits: fc.integer({ min: 1, max: 255 }),
          }),
          fc.record({
            kind: fc.constant('random' as const),
            bytes: fc.uint8Array({ minLength: 1, maxLength: 600 }),
          }),
        ),
        fc.boolean(),
        async (which, damage, asMask) => {
          const good = files[which]();
          let bytes: Buffer;
          if (damage.kind === 'truncate')
            bytes = good.subarray(0, Math.max(1, Math.floor(good.length * damage.at)));
          else if (damage.kind === 'flip') {
            bytes = Buffer.from(good);
            const i = Math.floor(bytes.length * damage.at);
            bytes[i] ^= damage.bits;
          } else bytes = Buffer.from(damage.bytes);
          const r = await outcome(() =>
            asMask ? readMask(bytes, { width: W, height: H }) : readImage(bytes),
          );
          if (r.ok) {
            // A flipped byte may hit a field that does not matter (or survive as pixel
            // noise in a JPEG); what comes back must still be well-formed.
            expect(damage.kind).not.toBe('truncate');
            const v = r.value as { data: Uint8Array; width: number; height: number; channels?: number };
            expect(v.data.length).toBe(v.width * v.height * (v.channels ?? 1));
          } else {
            expect(r.error).toBeInstanceOf(P2SamError);
            expect((r.error as P2SamError).code).toMatch(/^(IMAGE_READ_FAILED|MASK_SIZE_MISMATCH)$/);
          }
        },
      ),
      { numRuns: 120 },
    );
  });

  it('readImage / readMask: wrong argument types are TypeErrors; missing files are IMAGE_READ_FAILED', async () => {
    for (const bad of [undefined, null, 42, {}, [], '']) {
      await expect(readImage(bad as never)).rejects.toBeInstanceOf(TypeError);
      await expect(readMask(bad as never)).rejects.toBeInstanceOf(TypeError);
    }
    await expect(readImage(Buffer.alloc(0))).rejects.toBeInstanceOf(TypeError);
    await expect(readImage('/nonexistent/x.png')).rejects.toMatchObject({ code: 'IMAGE_READ_FAILED' });
    await expect(readImage(tempDir())).rejects.toMatchObject({ code: 'IMAGE_READ_FAILED' });
    const emptyFile = path.join(tempDir(), 'empty.png');
    writeFileSync(emptyFile, '');
    await expect(readImage(emptyFile)).rejects.toMatchObject({ code: 'IMAGE_READ_FAILED' });
    await expect(readMask(maskPngBytes, { width: W + 1, height: H })).rejects.toMatchObject({
      code: 'MASK_SIZE_MISMATCH',
    });
    await expect(readImage(pngBytes, { window: [5, 5] })).rejects.toBeInstanceOf(RangeError);
    await expect(readImage(pngBytes, { window: [NaN, 5] as never })).rejects.toBeInstanceOf(TypeError);
  });
});

describe('createReference and segment options', () => {
  it('reference options: every field validated (parts 1..16, min ≤ max, negatives per mode, seed, restarts, signal)', async () => {
    const range = (lo: number, hi: number) =>
      fc.oneof(
        fc.integer({ min: lo, max: hi }),
        fc.record({ min: fc.integer({ min: lo, max: hi }), max: fc.integer({ min: lo, max: hi }) }),
      );
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          {
            mode: optionValue(fc.constantFrom('natural', 'medical', 'medical ')),
            parts: optionValue(range(0, 18)),
            negatives: optionValue(range(0, 66)),
            seed: optionValue(
              fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.constant(Number.MAX_SAFE_INTEGER)),
            ),
            restarts: optionValue(fc.integer({ min: 0, max: 101 })),
          },
          { requiredKeys: [] },
        ),
        async (o) => {
          const modeF = oneOfFailures('options.mode', o.mode, ['natural', 'medical']);
          const medical = o.mode === 'medical';
          let negF = rangeFailures('options.negatives', o.negatives, 0, medical ? 64 : 1);
          if (!negF.length && !medical && isPlainObject(o.negatives) && o.negatives.min !== o.negatives.max)
            negF = [{ param: 'options.negatives', cls: RangeError }];
          const failures = [
            ...modeF,
            ...rangeFailures('options.parts', o.parts, 1, 16),
            ...(modeF.length ? [] : negF),
            ...intFailures('options.seed', o.seed, 0, Number.MAX_SAFE_INTEGER),
            ...intFailures('options.restarts', o.restarts, 1, 100),
          ];
          const r = await outcome(() =>
            model.createReference({ image: scene.image, mask: scene.mask }, {
              ...o,
              signal: preAborted,
            } as never),
          );
          expect(r.ok).toBe(false);
          if (!r.ok) {
            if (failures.length) expectOneOf(r.error, failures);
            else expect(r.error).toMatchObject({ code: 'ABORTED', cause: REASON });
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('createReference: input, image and signal must have the right shape', async () => {
    await fc.assert(
      fc.asyncProperty(junk, imageLike([1, 3, 4]), async (j, img) => {
        const r1 = await outcome(() => model.createReference(j as never));
        expectOneOf(
          (r1 as { error: unknown }).error,
          isPlainObject(j) ? maskFailures('input.mask', undefined) : [{ param: 'input', cls: TypeError }],
        );
        const r2 = await outcome(() =>
          model.createReference({ image: scene.image, mask: scene.mask }, { signal: j } as never),
        );
        if (j !== undefined)
          expectOneOf((r2 as { error: unknown }).error, signalFailures('options.signal', j));
        else expect(r2.ok).toBe(true);
        const r3 = await outcome(() =>
          model.createReference({ image: img as never, mask: scene.mask }, { signal: preAborted }),
        );
        const f3 = imageFailures('input.image', img);
        if (f3.length) expectOneOf((r3 as { error: unknown }).error, f3);
        else expect((r3 as { error: unknown }).error).toMatchObject({ code: 'MASK_SIZE_MISMATCH' });
      }),
      { numRuns: 40 },
    );
  });

  it('segment options: reference, retrieval (solver, weights, epsilon, maxIterations), parallelCandidates, callbacks', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          {
            retrieval: fc.oneof(
              fc.record(
                {
                  solver: optionValue(fc.constantFrom('exact', 'sinkhorn', 'emd')),
                  weights: optionValue(fc.constantFrom('uniform', 'sigmoid', 'softmax')),
                  epsilon: optionValue(
                    fc.oneof(fc.double({ min: 0, max: 11, noNaN: true }), fc.constantFrom(0, 10, 1e-300)),
                  ),
                  maxIterations: optionValue(fc.integer({ min: 0, max: 1_000_001 })),
                },
                { requiredKeys: [] },
              ),
              junk,
            ),
            parallelCandidates: optionValue(fc.integer({ min: 0, max: 17 })),
            onProgress: optionValue(fc.constant(() => undefined)),
          },
          { requiredKeys: [] },
        ),
        imageLike([1, 3, 4]),
        async (o, img) => {
          const retrieval = o.retrieval as Record<string, unknown> | undefined;
          const rF =
            retrieval === undefined
              ? []
              : !isPlainObject(retrieval)
                ? [{ param: 'options.retrieval', cls: TypeError }]
                : [
                    ...oneOfFailures('options.retrieval.solver', retrieval.solver, ['exact', 'sinkhorn']),
                    ...oneOfFailures('options.retrieval.weights', retrieval.weights, ['uniform', 'sigmoid']),
                    ...numberFailures('options.retrieval.epsilon', retrieval.epsilon, 0, 10, true),
                    ...intFailures('options.retrieval.maxIterations', retrieval.maxIterations, 1, 1_000_000),
                  ];
          const failures = [
            ...imageFailures('target', img),
            ...rF,
            ...intFailures('options.parallelCandidates', o.parallelCandidates, 1, 16),
            ...funcFailures('options.onProgress', o.onProgress),
          ];
          const r = await outcome(() =>
            model.segment(img as never, { ...o, reference: ref, signal: preAborted } as never),
          );
          expect(r.ok).toBe(false);
          if (!r.ok) {
            if (failures.length) expectOneOf(r.error, failures);
            else expect(r.error).toMatchObject({ code: 'ABORTED', cause: REASON });
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('segment: options and reference must be the right objects; foreign and disposed references are refused', async () => {
    await fc.assert(
      fc.asyncProperty(junk, async (j) => {
        const r1 = await outcome(() => model.segment(target.image, j as never));
        expectOneOf(
          (r1 as { error: unknown }).error,
          isPlainObject(j)
            ? [{ param: 'options.reference', cls: TypeError }]
            : [{ param: 'options', cls: TypeError }],
        );
        const r2 = await outcome(() => model.segment(target.image, { reference: j } as never));
        expectOneOf((r2 as { error: unknown }).error, [{ param: 'options.reference', cls: TypeError }]);
      }),
      { numRuns: 60 },
    );
    const other = await P2SAM.load({ ...paths, threads: 1 });
    const foreign = await other.createReference(
      { image: scene.image, mask: scene.mask },
      { parts: 1, restarts: 1 },
    );
    await expect(model.segment(target.image, { reference: foreign })).rejects.toMatchObject({
      code: 'MODEL_MISMATCH',
    });
    await other.dispose();
    const gone = await model.createReference(
      { image: scene.image, mask: scene.mask },
      { parts: 1, restarts: 1 },
    );
    gone.dispose();
    await expect(model.segment(target.image, { reference: gone })).rejects.toMatchObject({
      code: 'DISPOSED',
    });
  });

  it('predict: points, labels, boxes and mask inputs are validated', async () => {
    const emb = await model.encode(target.image);
    const num = fc.oneof(fc.double({ min: -2e6, max: 2e6 }), fc.constantFrom(NaN, Infinity, -Infinity), junk);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ x: num, y: num, label: fc.oneof(fc.constantFrom(0, 1, 2, -1, 0.5), junk) }), {
          maxLength: 3,
        }),
        fc.option(fc.oneof(fc.tuple(num, num, num, num), junk), { nil: undefined }),
        fc.option(
          fc.oneof(fc.constant(new Float32Array(256 * 256)), fc.constant(new Float32Array(10)), junk),
          { nil: undefined },
        ),
        async (points, box, maskInput) => {
          const failures: Failure[] = [];
          points.forEach((p, i) => {
            failures.push(...numberFailures(`prompt.points[${i}].x`, p.x, -1e6, 1e6, false, false));
            failures.push(...numberFailures(`prompt.points[${i}].y`, p.y, -1e6, 1e6, false, false));
            if (p.label !== 0 && p.label !== 1)
              failures.push({ param: `prompt.points[${i}].label`, cls: RangeError });
          });
          if (box !== undefined) {
            if (!Array.isArray(box) || box.length !== 4)
              failures.push({ param: 'prompt.box', cls: TypeError });
            else {
              box.forEach((b, i) =>
                failures.push(...numberFailures(`prompt.box[${i}]`, b, -1e6, 1e6, false, false)),
              );
              if (
                failures.length === 0 &&
                ((box[0] as number) > (box[2] as number) || (box[1] as number) > (box[3] as number))
              )
                failures.push({ param: 'prompt.box', cls: RangeError });
            }
          }
          if (failures.length === 0 && points.length === 0 && box === undefined && maskInput === undefined)
            failures.push({ param: 'prompt', cls: RangeError });
          if (maskInput !== undefined && !(maskInput instanceof Float32Array && maskInput.length === 65536))
            failures.push({ param: 'prompt.maskInput', cls: TypeError });
          const r = await outcome(() =>
            model.predict(emb, { points, box, maskInput } as never, { signal: preAborted }),
          );
          expect(r.ok).toBe(false);
          if (!r.ok) {
            if (failures.length) expectOneOf(r.error, failures);
            else expect(r.error).toMatchObject({ code: 'ABORTED', cause: REASON });
          }
        },
      ),
      { numRuns: 250 },
    );
    emb.dispose();
    await expect(model.predict(emb, { points: [{ x: 1, y: 1, label: 1 }] })).rejects.toMatchObject({
      code: 'DISPOSED',
    });
    await expect(model.predict({} as never, { points: [] })).rejects.toBeInstanceOf(TypeError);
  });

  it('Embedding.fromData refuses wrong lengths, NaN/Infinity values and forged sizes', async () => {
    const good = (await model.encode(target.image)).toFloat32Array();
    const meta = { origWidth: W, origHeight: H, inputWidth: 1024, inputHeight: 768 };
    expect(Embedding.fromData(good, meta).width).toBe(W);
    expect(() => Embedding.fromData(new Float32Array(10), meta)).toThrow(RangeError);
    expect(() => Embedding.fromData([1, 2] as never, meta)).toThrow(TypeError);
    for (const bad of [NaN, Infinity, -Infinity]) {
      const d = good.slice();
      d[12345] = bad;
      expect(() => Embedding.fromData(d, meta)).toThrow(
        /data must contain only finite values; element 12345/,
      );
    }
    expect(() => Embedding.fromData(good, null as never)).toThrow(TypeError);
    expect(() => Embedding.fromData(good, { ...meta, origWidth: 1e6, origHeight: 1e6 })).toThrow(
      /meta\.origWidth must be an integer in 1\.\.32768/,
    );
    expect(() => Embedding.fromData(good, { ...meta, origWidth: 30_000, origHeight: 30_000 })).toThrow(
      /at most 200000000 pixels/,
    );
    expect(() => Embedding.fromData(good, { ...meta, inputWidth: 2048 })).toThrow(/meta\.inputWidth/);
    expect(() => Embedding.fromData(good, { ...meta, inputWidth: 512 })).toThrow(/longest side of 1024/);
    expect(() => Embedding.fromData(good, { ...meta, origHeight: '240' } as never)).toThrow(TypeError);
  });
});

describe('broken models', () => {
  it('random bytes as ONNX (buffer or file, encoder or decoder) are refused with a model error code', async () => {
    const dir = tempDir();
    const encoderBytes = new Uint8Array(
      await import('node:fs/promises').then((f) => f.readFile(paths.encoder)),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ minLength: 1, maxLength: 3000 }),
          fc
            .double({ min: 0.01, max: 0.99, noNaN: true })
            .map((f) => encoderBytes.slice(0, Math.max(1, Math.floor(encoderBytes.length * f)))),
        ),
        fc.boolean(),
        fc.boolean(),
        async (bytes, asDecoder, asFile) => {
          let src: string | Uint8Array = bytes;
          if (asFile) {
            src = path.join(dir, `fuzz-${bytes.length}.onnx`);
            writeFileSync(src, bytes);
          }
          const r = await outcome(() =>
            P2SAM.load(
              asDecoder
                ? { encoder: paths.encoder, decoder: src, threads: 1 }
                : { encoder: src, decoder: paths.decoder, threads: 1 },
            ),
          );
          if (r.ok) {
            // A cut at a protobuf field boundary can leave a valid model; then it works.
            await (r.value as P2SAM).dispose();
            return;
          }
          expect(r.error).toBeInstanceOf(P2SamError);
          expect((r.error as P2SamError).code).toMatch(/^MODEL_(INVALID|UNSUPPORTED|MISMATCH)$/);
          expect((r.error as Error).message).toMatch(asDecoder ? /decoder/ : /encoder/);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a decoder with a wrong input name is MODEL_UNSUPPORTED and names the input', async () => {
    const e = await P2SAM.load({
      encoder: paths.encoder,
      decoder: testkitFixtureBytes('wrong-input-name-decoder'),
    }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(P2SamError);
    expect(e).toMatchObject({ code: 'MODEL_UNSUPPORTED' });
    expect((e as Error).message).toContain('image_embedding');
  });

  it('a decoder whose logits are NaN is detected: MODEL_OUTPUT_INVALID, not an empty mask', async () => {
    // SAM v1 decoder interface (without the optional full-size `masks`), low_res_masks = 0/0.
    const g = new GraphBuilder('nan_decoder');
    g.input('image_embeddings', 'float32', [1, 256, 64, 64]);
    g.input('point_coords', 'float32', [1, 'n', 2]);
    g.input('point_labels', 'float32', [1, 'n']);
    const m = g.input('mask_input', 'float32', [1, 1, 256, 256]);
    g.input('has_mask_input', 'float32', [1]);
    g.input('orig_im_size', 'float32', [2]);
    const zero = g.op('Mul', [m, g.f32(0)]);
    const four = g.op('Concat', [zero, zero, zero, zero], { axis: 1 });
    g.op('Div', [four, four], undefined, 'low_res_masks');
    g.op('Identity', [g.f32([0.5, 0.5, 0.5, 0.5], [1, 4])], undefined, 'iou_predictions');
    g.output('iou_predictions', 'float32', [1, 4]);
    g.output('low_res_masks', 'float32', [1, 4, 256, 256]);
    const bytes = encodeTestkitGraph(g.build('NaN decoder (test fixture)'), 'nan-decoder').model;
    const broken = await P2SAM.load({ encoder: paths.encoder, decoder: bytes, threads: 1 });
    const ref = await broken.createReference(
      { image: scene.image, mask: scene.mask },
      { parts: { min: 1, max: 2 } },
    );
    await expect(broken.segment(target.image, { reference: ref })).rejects.toMatchObject({
      name: 'P2SamError',
      code: 'MODEL_OUTPUT_INVALID',
    });
    await broken.dispose();
  });

  it('an encoder whose output is NaN is detected: NON_FINITE_EMBEDDING, not a garbage mask', async () => {
    // A preprocessed-form encoder (f32[1,3,1024,1024] in) computing 0/0 per cell: a
    // stand-in for a model broken by a bad conversion or fp16 overflow.
    const g = new GraphBuilder('nan_encoder');
    const x = g.input('input_image', 'float32', [1, 3, 1024, 1024]);
    const pooled = g.op('AveragePool', [x], { kernel_shape: [16, 16], strides: [16, 16] });
    const w = g.initializer({
      name: 'w',
      type: 'float32',
      dims: [256, 3, 1, 1],
      data: new Float32Array(256 * 3),
    });
    const zeros = g.op('Conv', [pooled, w], { kernel_shape: [1, 1] });
    g.op('Div', [zeros, zeros], undefined, 'image_embeddings');
    g.output('image_embeddings', 'float32', [1, 256, 64, 64]);
    const bytes = encodeTestkitGraph(g.build('NaN encoder (test fixture)'), 'nan-encoder').model;
    const broken = await P2SAM.load({ encoder: bytes, decoder: paths.decoder, threads: 1 });
    await expect(broken.encode(target.image)).rejects.toMatchObject({
      name: 'P2SamError',
      code: 'NON_FINITE_EMBEDDING',
    });
    await expect(broken.createReference({ image: scene.image, mask: scene.mask })).rejects.toMatchObject({
      code: 'NON_FINITE_EMBEDDING',
    });
    await broken.dispose();
  });
});

describe('core.* with malformed input', () => {
  it('kmeans / prototypes: features, d, ks and options are validated', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.integer({ min: 1, max: 6 }), junk),
        fc.oneof(
          fc
            .array(
              fc.oneof(
                { weight: 8, arbitrary: fc.float({ min: -100, max: 100, noNaN: true }) },
                { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity) },
              ),
              { maxLength: 40 },
            )
            .map((a) => Float32Array.from(a)),
          junk,
        ),
        fc.oneof(
          fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 3 }),
          fc.array(fc.integer({ min: -1, max: 5000 }), { maxLength: 2 }),
          junk,
        ),
        fc.record(
          {
            restarts: optionValue(fc.integer({ min: 1, max: 5 })),
            maxIterations: optionValue(fc.integer({ min: 1, max: 50 })),
            tolerance: optionValue(fc.double({ min: 0, max: 1, noNaN: true })),
            seed: optionValue(fc.nat()),
            threads: optionValue(fc.integer({ min: 1, max: 4 })),
          },
          { requiredKeys: [] },
        ),
        fc.boolean(),
        async (d, features, ks, opts, usePrototypes) => {
          const failures: Failure[] = [];
          const dF = intFailures('d', d, 1, 65536, false);
          failures.push(...dF);
          if (!dF.length) {
            if (!(features instanceof Float32Array)) failures.push({ param: 'features', cls: TypeError });
            else if (
              features.length === 0 ||
              features.length % (d as number) !== 0 ||
              !features.every(Number.isFinite)
            )
              failures.push({ param: 'features', cls: RangeError });
          }
          if (!Array.isArray(ks) || ks.length === 0) failures.push({ param: 'options.ks', cls: TypeError });
          else ks.forEach((k, i) => failures.push(...intFailures(`options.ks[${i}]`, k, 1, 4096, false)));
          failures.push(
            ...intFailures('options.restarts', opts.restarts, 1, 1000),
            ...intFailures('options.maxIterations', opts.maxIterations, 1, 100_000),
            ...numberFailures('options.tolerance', opts.tolerance, 0, 1, false),
            ...intFailures('options.seed', opts.seed, 0, Number.MAX_SAFE_INTEGER),
            ...intFailures('options.threads', opts.threads, 1, 1024),
          );
          const fn = usePrototypes ? core.prototypes : core.kmeans;
          const r = await outcome(() => fn(features as never, d as never, { ...opts, ks } as never));
          if (failures.length) {
            expect(r.ok).toBe(false);
            return expectOneOf((r as { error: unknown }).error, failures);
          }
          if (!r.ok) throw r.error;
          const n = (features as Float32Array).length / (d as number);
          for (const [i, s] of (
            r.value as { k: number; skipped: boolean; labels: Int32Array; inertia: number }[]
          ).entries()) {
            expect(s.k).toBe((ks as number[])[i]);
            expect(s.skipped).toBe(n < s.k);
            if (s.skipped) continue;
            expect(Number.isFinite(s.inertia) && s.inertia >= 0).toBe(true);
            expect(s.labels.length).toBe(n);
            expect(new Set(s.labels).size).toBe(s.k); // every cluster used, none empty
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('wasserstein: clouds, weights and solver options are validated; results are finite and ≥ 0', async () => {
    const cloud = (d: number) =>
      fc
        .array(fc.float({ min: -50, max: 50, noNaN: true }), { minLength: d, maxLength: 8 * d })
        .map((a) => Float32Array.from(a.slice(0, a.length - (a.length % d))));
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }).chain((d) => fc.tuple(fc.constant(d), cloud(d), cloud(d))),
        fc.oneof(
          { weight: 3, arbitrary: fc.constant(undefined) },
          {
            weight: 1,
            arbitrary: fc.array(
              fc.oneof(fc.double({ min: 0, max: 10, noNaN: true }), fc.constantFrom(-1, NaN, Infinity)),
              { maxLength: 9 },
            ),
          },
          { weight: 1, arbitrary: junk },
        ),
        fc.record(
          {
            solver: optionValue(fc.constantFrom('exact', 'sinkhorn', 'lp')),
            epsilon: optionValue(fc.double({ min: 1e-3, max: 11, noNaN: true })),
            maxIterations: optionValue(fc.integer({ min: 0, max: 2000 })),
            tolerance: optionValue(fc.double({ min: 0, max: 1.5, noNaN: true })),
          },
          { requiredKeys: [] },
        ),
        fc.oneof({ weight: 5, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: junk }),
        async ([d, a, b], weightsA, opts, badD) => {
          const failures: Failure[] = [];
          const dd = badD === null ? d : badD;
          const dF = intFailures('d', dd, 1, 65536, false);
          failures.push(...dF);
          if (!dF.length) {
            for (const [name, x] of [
              ['a', a],
              ['b', b],
            ] as const)
              if (x.length === 0 || x.length % (dd as number) !== 0)
                failures.push({ param: name, cls: RangeError });
          }
          const na = dF.length ? 0 : a.length / (dd as number);
          if (weightsA !== undefined && weightsA !== null) {
            if (
              !(
                weightsA instanceof Float64Array ||
                weightsA instanceof Float32Array ||
                Array.isArray(weightsA)
              )
            )
              failures.push({ param: 'options.weightsA', cls: TypeError });
            else {
              const w = Array.from(weightsA as ArrayLike<number>);
              if (
                w.length !== na ||
                !w.every((x) => Number.isFinite(x) && x >= 0) ||
                !(w.reduce((s, x) => s + x, 0) > 0)
              )
                failures.push({ param: 'options.weightsA', cls: RangeError });
            }
          }
          failures.push(
            ...oneOfFailures('options.solver', opts.solver, ['exact', 'sinkhorn']),
            ...numberFailures('options.epsilon', opts.epsilon, 0, 10, true),
            ...intFailures('options.maxIterations', opts.maxIterations, 1, 10_000_000),
            ...numberFailures('options.tolerance', opts.tolerance, 0, 1, false),
          );
          const r = await outcome(() => core.wasserstein(a, b, dd as never, { ...opts, weightsA } as never));
          if (failures.length) {
            expect(r.ok).toBe(false);
            return expectOneOf((r as { error: unknown }).error, failures);
          }
          if (!r.ok) {
            // Valid but numerically hopeless Sinkhorn settings are refused with a code, never NaN.
            expect(r.error).toBeInstanceOf(P2SamError);
            return;
          }
          const res = r.value as { cost: number; marginalError: number };
          expect(Number.isFinite(res.cost)).toBe(true);
          expect(res.cost).toBeGreaterThanOrEqual(-1e-9);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('values too large for a solver are refused with a code instead of a NaN cost', async () => {
    const a = new Float32Array([3e38, -3e38]);
    const b = new Float32Array([-3e38, 3e38]);
    for (const solver of ['exact', 'sinkhorn'] as const) {
      const r = await outcome(() => core.wasserstein(a, b, 2, { solver }));
      if (r.ok) expect(Number.isFinite((r.value as { cost: number }).cost)).toBe(true);
      else expect(r.error).toMatchObject({ name: 'P2SamError', code: 'INVALID_ARGUMENT' });
    }
    await expect(
      core.kmeans(new Float32Array([3e38, 3e38, -3e38, -3e38]), 2, { ks: [2] }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('the raw addon with malformed arguments', () => {
  // The TypeScript layer validates everything before calling the addon, but the .node
  // file can be require()d directly; it must still never crash the process. A child
  // process runs the fuzz so that a crash is reported with the call that caused it.
  it('random argument lists to every native function throw or reject with an Error, never crash', async () => {
    const dir = tempDir();
    const script = path.join(dir, 'native-fuzz.js');
    writeFileSync(
      script,
      `
const fc = require(${JSON.stringify(require.resolve('fast-check'))});
const addon = require(${JSON.stringify(path.join(__dirname, '..', 'build', 'Release', 'p2sam.node'))});
const [encoder, decoder] = process.argv.slice(2);
(async () => {
  const model = await addon.loadModels({ encoder: { path: encoder }, decoder: { path: decoder }, threads: 1, graphOptimization: 99, memoryPattern: false, cpuArena: true, device: 'cpu' });
  const emb = new addon.NativeEmbedding(new Float32Array(256 * 4096).fill(0.01), { origWidth: 40, origHeight: 30, inputWidth: 1024, inputHeight: 768 });
  const typed = fc.tuple(fc.constantFrom(Float32Array, Float64Array, Int32Array, Uint8Array, Uint8ClampedArray, Int8Array), fc.integer({ min: 0, max: 300 }))
    .map(([T, n]) => new T(n).fill(1));
  const leaf = fc.oneof(
    fc.constantFrom(undefined, null, true, 0, 1, 2, 3, 7, -1, 256, 1024, 65536, NaN, Infinity, -Infinity, 1.5, 2 ** 31, -(2 ** 31), '', 'sinkhorn', 'medsam', 'cuda'),
    typed, fc.constant(emb), fc.constant(model), fc.constant({}), fc.constant([]),
  );
  const value = fc.oneof(
    { weight: 3, arbitrary: leaf },
    { weight: 1, arbitrary: fc.dictionary(fc.constantFrom('path', 'bytes', 'encoder', 'decoder', 'prototypes', 'count', 'meanArgmin', 'threads', 'restarts', 'maxIterations', 'solver', 'candidates', 'xy', 'labels', 'referenceFeatures', 'referenceCount', 'origWidth', 'origHeight', 'inputWidth', 'inputHeight'), leaf) },
    { weight: 1, arbitrary: fc.array(fc.dictionary(fc.constantFrom('prototypes', 'count', 'xy', 'labels', 'parts'), leaf), { maxLength: 3 }) },
  );
  const fns = {
    kmeans: (a) => addon.kmeans(...a), prototypes: (a) => addon.prototypes(...a), wasserstein: (a) => addon.wasserstein(...a),
    referenceFeatures: (a) => addon.referenceFeatures(...a), selectPoints: (a) => addon.selectPoints(...a),
    inspectModel: (a) => addon.inspectModel(...a), NativeEmbedding: (a) => new addon.NativeEmbedding(...a),
    encode: (a) => model.encode(...a), decode: (a) => model.decode(...a), runCandidates: (a) => model.runCandidates(...a),
    loadModels: (a) => addon.loadModels(...a),
  };
  let calls = 0;
  await fc.assert(fc.asyncProperty(fc.constantFrom(...Object.keys(fns)), fc.array(value, { maxLength: 8 }), async (name, args) => {
    process.stdout.write(name + ' ' + args.map((a) => (a === null || typeof a !== 'object' ? String(a) : a.constructor ? a.constructor.name + (a.length !== undefined ? '(' + a.length + ')' : '') : 'object')).join(', ') + '\\n');
    calls++;
    try {
      await fns[name](args);
    } catch (e) {
      if (!(e instanceof Error)) throw new Error('non-Error thrown by ' + name + ': ' + String(e));
    }
  }), { numRuns: 1500 });
  process.stdout.write('FUZZ-OK ' + calls + '\\n');
})().catch((e) => { process.stdout.write('FUZZ-FAILED ' + (e && e.stack || e) + '\\n'); process.exitCode = 1; });
`,
    );
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(process.execPath, [script, paths.encoder, paths.decoder], {
      encoding: 'utf8',
      timeout: 120_000,
      maxBuffer: 64 * 2 ** 20,
    });
    const tail = `${r.stdout.split('\n').slice(-4).join('\n')}\n${r.stderr.slice(-2000)}`;
    expect(r.signal, `the child died by a signal; last calls:\n${tail}`).toBeNull();
    expect(r.status, tail).toBe(0);
    expect(r.stdout).toMatch(/FUZZ-OK 1500/);
  }, 150_000);

  it('size mismatches that would be out-of-bounds reads are refused by the addon itself', async () => {
    const { native } = await import('../lib/native');
    const addon = native();
    const meta = { origWidth: 40, origHeight: 30, inputWidth: 1024, inputHeight: 768 };
    expect(() => new addon.NativeEmbedding(new Float32Array(5), meta)).toThrow(/256×64×64/);
    expect(() => new addon.NativeEmbedding(new Float32Array(256 * 4096), { ...meta, origWidth: -3 })).toThrow(
      /out of range/,
    );
    const emb = new addon.NativeEmbedding(new Float32Array(256 * 4096), meta);
    expect(() => addon.referenceFeatures(emb, new Uint8Array(3), 40, 30, 1)).toThrow(/width×height/);
    expect(() =>
      addon.wasserstein(
        new Float32Array(4),
        2,
        new Float32Array(2),
        1,
        2,
        new Float64Array(1),
        null,
        {} as never,
      ),
    ).toThrow(/n and m weights/);
    const handle = await addon.loadModels({
      encoder: { path: paths.encoder },
      decoder: { path: paths.decoder },
      threads: 1,
      graphOptimization: 99,
      memoryPattern: false,
      cpuArena: true,
      device: 'cpu',
    });
    expect(() => handle.encode(new Uint8Array(10), 40, 30, 3, 'sam', 1)).toThrow(/width×height×channels/);
    expect(() =>
      handle.decode(emb, new Float32Array(2), new Float32Array(1), new Float32Array(7), true),
    ).toThrow(/256×256/);
    expect(() =>
      handle.runCandidates(emb, {
        candidates: [{ parts: 1, negatives: 0, xy: new Float32Array(3), labels: new Float32Array(1) }],
      } as never),
    ).toThrow(/two coordinates per label/);
    handle.release();
  });
});

describe('the CLI with hostile input', () => {
  const hasCli = existsSync(path.join(__dirname, '..', 'lib', 'cli', 'main.ts'));
  it.skipIf(!hasCli)(
    'corrupt images, random-byte models and junk flags exit with 1 or 2 and a one-line error, never a crash',
    async () => {
      ensureBuilt();
      if (!existsSync(CLI)) {
        console.warn(`reliability: ${CLI} not built; CLI fuzz skipped`);
        return;
      }
      const dir = tempDir();
      const refImage = path.join(dir, 'ref.png');
      const refMask = path.join(dir, 'ref-mask.png');
      writeFileSync(refImage, pngBytes);
      writeFileSync(refMask, maskPngBytes);
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('model', 'image', 'mask', 'flag'),
          fc.uint8Array({ minLength: 1, maxLength: 400 }),
          fc.constantFrom(
            ['--parts', '0..99'],
            ['--parts', 'x'],
            ['--threads', '-3'],
            ['--seed', 'NaN'],
            ['--negatives', '5'],
            ['--mode', 'surgical'],
            ['--window', '9,1'],
            ['--epsilon', 'Infinity'],
          ),
          async (what, junkBytes, flag) => {
            const bad = path.join(dir, `bad-${what}.bin`);
            writeFileSync(
              bad,
              what === 'image' || what === 'mask'
                ? Buffer.concat([pngBytes.subarray(0, 40), junkBytes])
                : junkBytes,
            );
            const args = [
              'segment',
              '--encoder',
              what === 'model' ? bad : paths.encoder,
              '--decoder',
              paths.decoder,
              '--ref-image',
              what === 'image' ? bad : refImage,
              '--ref-mask',
              what === 'mask' ? bad : refMask,
              '-o',
              path.join(dir, 'out'),
              '-q',
              ...(what === 'flag' ? flag : []),
              refImage,
            ];
            const r = await runCli(args, { timeoutMs: 30_000 });
            expect(r.signal).toBeNull();
            expect([1, 2]).toContain(r.code);
            expect(r.stderr).not.toMatch(/internal error|Segmentation fault|Aborted|core dumped/i);
            expect(r.stderr.trim().length).toBeGreaterThan(0);
          },
        ),
        { numRuns: 8 },
      );
    },
    180_000,
  );
});

describe('after all of the above', () => {
  it('the process is healthy: no unhandled rejection, and the model still segments correctly', async () => {
    const r = await model.segment(target.image, { reference: ref });
    expect(maskIou(r.mask, target.mask.data)).toBeGreaterThan(0.85);
    expect(unhandled).toEqual([]);
  });
});
