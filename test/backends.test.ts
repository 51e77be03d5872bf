/**
 * lib/backends.ts: back-end discovery and device selection on the machine the tests run on.
 * On a machine without a usable CUDA backend (CI: nvcc present, no driver, no GPU):
 * backends() says why, device 'auto' runs on the CPU and records the reason, device
 * 'cuda' fails with BACKEND_UNAVAILABLE, and a CUDA-compiled addon still loads.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { P2SAM, P2SamError } from '../lib';
import { native, nativeFile } from '../lib/native';
import { testkitModel } from './helpers';

const status = P2SAM.backends();
const cudaUsable = status.cuda.available;

// The build configuration the addon came from (cmake-js writes the cache one level up).
function cmakeCache(): string | undefined {
  const cache = path.join(path.dirname(nativeFile()), '..', 'CMakeCache.txt');
  return existsSync(cache) ? readFileSync(cache, 'utf8') : undefined;
}

describe('P2SAM.backends()', () => {
  it('always lists the CPU and reports CUDA with its facts', () => {
    expect(status.cpu.available).toBe(true);
    expect(typeof status.cuda.kernelsCompiled).toBe('boolean');
    expect(typeof status.cuda.onnxRuntimeProvider).toBe('boolean');
    expect(typeof status.cuda.kernelsAvailable).toBe('boolean');
    // Everything device 'cuda' needs = the kernels + ORT's provider.
    expect(status.cuda.available).toBe(status.cuda.kernelsAvailable && status.cuda.onnxRuntimeProvider);
    expect(status.onnxRuntime).toMatch(/^\d+\.\d+\.\d+/);
    expect(status.addon).toBe(nativeFile());
  });

  it.skipIf(cudaUsable)('says why CUDA is unavailable', () => {
    expect(status.cuda.available).toBe(false);
    expect(status.cuda.reason).toEqual(expect.any(String));
    expect(status.cuda.reason!.length).toBeGreaterThan(10);
    const raw = native().backends().cuda;
    expect(status.cuda.kernelsAvailable).toBe(raw.compiled && raw.available);
    if (!raw.compiled) expect(status.cuda.reason).toMatch(/compiled without CUDA/);
    else if (!raw.available) expect(status.cuda.reason).toMatch(/^no usable GPU: /);
    else expect(status.cuda.reason).toMatch(/libonnxruntime_providers_cuda\.so/);
  });

  it('a CUDA-compiled addon loads without a driver: cudart is static, libcuda is not linked', () => {
    const cache = cmakeCache();
    // CMAKE_CUDA_FLAGS is cached only when the CUDA language was enabled (nvcc found).
    const built =
      cache !== undefined && /^CMAKE_CUDA_FLAGS:STRING=/m.test(cache) && !/^P2SAM_CUDA:\w+=OFF/m.test(cache);
    if (!built)
      console.log('[backends] this addon was not built with nvcc; the static-cudart check is skipped');
    if (built) expect(native().backends().cuda.compiled).toBe(true);
    const ldd = spawnSync('ldd', [nativeFile()], { encoding: 'utf8' });
    if (ldd.status === 0) {
      expect(ldd.stdout).not.toMatch(/libcudart/);
      expect(ldd.stdout).not.toMatch(/libcuda\.so/);
      expect(ldd.stdout).not.toMatch(/not found/);
    }
    // Loading the addon in a fresh process (no CUDA libraries on the path) succeeds.
    const child = spawnSync(
      process.execPath,
      [
        '-e',
        `const a = require(${JSON.stringify(nativeFile())}); console.log(JSON.stringify(a.backends().cuda))`,
      ],
      {
        encoding: 'utf8',
        env: { ...process.env, LD_LIBRARY_PATH: '' },
      },
    );
    expect(child.status).toBe(0);
    const cuda = JSON.parse(child.stdout.trim());
    expect(cuda.compiled).toBe(built ? true : cuda.compiled);
    if (!cuda.available) expect(cuda.reason.length).toBeGreaterThan(10);
  });
});

describe('options.gpuStages', () => {
  let paths: { encoder: string; decoder: string };
  beforeAll(async () => {
    paths = await testkitModel();
  });

  it('is validated with the offending entry named', async () => {
    await expect(P2SAM.load({ ...paths, gpuStages: 'points' as never })).rejects.toThrow(TypeError);
    await expect(P2SAM.load({ ...paths, gpuStages: 'points' as never })).rejects.toThrow(
      /options\.gpuStages must be an array/,
    );
    await expect(P2SAM.load({ ...paths, gpuStages: ['points', 'decoder' as never] })).rejects.toThrow(
      /options\.gpuStages\[1\] must be 'points' \| 'kmeans' \| 'scoring'; received "decoder"/,
    );
    await expect(P2SAM.load({ ...paths, gpuStages: ['points', 'points'] })).rejects.toThrow(RangeError);
  });

  it("is empty in model.info when the maths runs on the CPU, and the default ['points'] on CUDA", async () => {
    const model = await P2SAM.load({ ...paths, threads: 1, gpuStages: ['kmeans', 'scoring'] });
    try {
      expect(model.info.gpuStages).toEqual(model.info.device === 'cuda' ? ['kmeans', 'scoring'] : []);
    } finally {
      await model.dispose();
    }
    const byDefault = await P2SAM.load({ ...paths, threads: 1 });
    try {
      expect(byDefault.info.gpuStages).toEqual(byDefault.info.device === 'cuda' ? ['points'] : []);
    } finally {
      await byDefault.dispose();
    }
  });
});

describe.skipIf(status.cuda.kernelsAvailable)('device selection without a GPU', () => {
  let paths: { encoder: string; decoder: string };
  beforeAll(async () => {
    paths = await testkitModel();
  });

  it("device 'auto' loads on the CPU and records the reason", async () => {
    const model = await P2SAM.load({ ...paths, device: 'auto', threads: 1 });
    try {
      expect(model.info.device).toBe('cpu');
      expect(model.info.modelDevice).toBe('cpu');
      expect(model.info.deviceReason).toContain(status.cuda.reason!);
      expect(model.info.deviceReason).toMatch(/fell back to the CPU/);
      // One reason for both halves, said once.
      expect(model.info.deviceReason).toMatch(/the P2SAM maths and the ONNX Runtime sessions/);
      expect(model.info.deviceReason!.split(status.cuda.reason!).length).toBe(2);
    } finally {
      await model.dispose();
    }
  });

  it("the default device is 'auto'", async () => {
    const model = await P2SAM.load({ ...paths, threads: 1 });
    try {
      expect(model.info.device).toBe('cpu');
      expect(model.info.deviceReason).toBeDefined();
    } finally {
      await model.dispose();
    }
  });

  it("device 'cpu' records no reason", async () => {
    const model = await P2SAM.load({ ...paths, device: 'cpu', threads: 1 });
    try {
      expect(model.info.device).toBe('cpu');
      expect(model.info.deviceReason).toBeUndefined();
    } finally {
      await model.dispose();
    }
  });

  it("device 'cuda' rejects with P2SamError BACKEND_UNAVAILABLE naming the reason", async () => {
    const err = await P2SAM.load({ ...paths, device: 'cuda' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(P2SamError);
    expect((err as P2SamError).code).toBe('BACKEND_UNAVAILABLE');
    expect((err as P2SamError).message).toContain(status.cuda.reason!);
  });

  it('an unknown device is a RangeError naming options.device', async () => {
    await expect(P2SAM.load({ ...paths, device: 'gpu' as 'cuda' })).rejects.toThrow(/options\.device/);
    await expect(P2SAM.load({ ...paths, modelDevice: 'gpu' as 'cuda' })).rejects.toThrow(RangeError);
    await expect(P2SAM.load({ ...paths, modelDevice: 'gpu' as 'cuda' })).rejects.toThrow(
      /options\.modelDevice/,
    );
  });

  it("modelDevice places the sessions on their own: CPU maths, 'auto' sessions fall back with their reason", async () => {
    const model = await P2SAM.load({ ...paths, device: 'cpu', modelDevice: 'auto', threads: 1 });
    try {
      expect(model.info.device).toBe('cpu');
      expect(model.info.modelDevice).toBe('cpu');
      expect(model.info.deviceReason).toMatch(
        /options\.modelDevice 'auto' fell back to the CPU for the ONNX Runtime sessions/,
      );
      expect(model.info.deviceReason).not.toMatch(/P2SAM maths/);
    } finally {
      await model.dispose();
    }
  });

  it("device 'cuda' with CPU sessions still needs a GPU for the maths", async () => {
    const err = await P2SAM.load({ ...paths, device: 'cuda', modelDevice: 'cpu' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(P2SamError);
    expect((err as P2SamError).code).toBe('BACKEND_UNAVAILABLE');
    expect((err as P2SamError).message).toMatch(
      /options\.device 'cuda' is not available for the P2SAM maths/,
    );
    expect((err as P2SamError).message).toContain(status.cuda.reason!);
  });

  it("modelDevice 'cuda' alone rejects naming options.modelDevice", async () => {
    await expect(P2SAM.load({ ...paths, device: 'cpu', modelDevice: 'cuda' })).rejects.toMatchObject({
      code: 'BACKEND_UNAVAILABLE',
      message: expect.stringMatching(
        /options\.modelDevice 'cuda' is not available for the ONNX Runtime sessions/,
      ),
    });
  });

  it("the maths bindings reject device 'cuda' with BACKEND_UNAVAILABLE, never crash", async () => {
    const x = new Float32Array(64).map((_, i) => (i * 7) % 5);
    await expect(
      native().prototypes(x, 16, 4, Int32Array.of(2), {
        restarts: 1,
        maxIterations: 10,
        tolerance: 1e-4,
        seed: 0,
        threads: 1,
        device: 'cuda',
      }),
    ).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    const emb = new (native().NativeEmbedding)(new Float32Array(256 * 4096), {
      origWidth: 64,
      origHeight: 64,
      inputWidth: 1024,
      inputHeight: 1024,
    });
    await expect(
      native().selectPoints(
        emb,
        [{ prototypes: new Float32Array(256).fill(0.0625), count: 1, meanArgmin: false }],
        1,
        'cuda',
      ),
    ).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
  });

  it('the gpu bindings (when exported) reject with BACKEND_UNAVAILABLE instead of crashing', async () => {
    const gpu = (native() as unknown as { gpu?: Record<string, (...a: unknown[]) => Promise<unknown>> }).gpu;
    if (!gpu) {
      console.log('[backends] the addon does not export gpu.* yet; skipping the binding check');
      return;
    }
    const x = new Float32Array(16);
    await expect(gpu.kmeans(x, 4, 4, Int32Array.of(2), {})).rejects.toMatchObject({
      code: 'BACKEND_UNAVAILABLE',
    });
    await expect(gpu.costMatrix(x, 4, x, 4, 4)).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    await expect(gpu.sinkhorn(x, 4, x, 4, 4, null, null, {})).rejects.toMatchObject({
      code: 'BACKEND_UNAVAILABLE',
    });
  });
});
