/**
 * Shared gate of the GPU tests: they run only where the addon was built with nvcc, a
 * CUDA device answers, and the addon exports the `gpu` bindings. Anywhere else every
 * GPU suite is skipped with one visible line saying why.
 */
import { P2SAM } from '../../lib';
import { native, type GpuBindings } from '../../lib/native';

export type { GpuBindings };

export function gpuBindings(): GpuBindings | undefined {
  return (native() as unknown as { gpu?: GpuBindings }).gpu;
}

function why(): string | undefined {
  const b = P2SAM.backends().cuda;
  if (!b.kernelsCompiled) return b.reason ?? 'the addon was built without CUDA';
  if (!b.device) return b.reason ?? 'no CUDA device';
  if (!gpuBindings())
    return 'the addon does not export the gpu bindings (RegisterGpuBindings not called in addon.cpp)';
  return undefined;
}

export const gpuSkipReason = why();
export const gpuAvailable = gpuSkipReason === undefined;
if (!gpuAvailable) console.log(`[gpu tests skipped] ${gpuSkipReason}`);

/** Deterministic pseudo-random data (xorshift), so CPU and GPU see identical inputs. */
export function rng(seed: number): () => number {
  let s = (seed * 2654435761) >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

export function blobs(n: number, d: number, centres: number, seed: number): Float32Array {
  const r = rng(seed);
  const c = Float32Array.from({ length: centres * d }, () => 8 * (r() - 0.5));
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++)
    for (let t = 0; t < d; t++) x[i * d + t] = 3 + c[(i % centres) * d + t] + (r() - 0.5);
  return x;
}
