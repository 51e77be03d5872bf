/**
 * Which compute back-ends this build can use here, and why not when it cannot.
 *
 * The CUDA execution provider of ONNX Runtime needs libonnxruntime_providers_cuda.so
 * (and cuDNN/cuBLAS) beside the runtime library; onnxruntime-node's install step that
 * would fetch it is skipped (it downloads outside the npm registry), so on a stock
 * install the provider is missing and `device: 'auto'` runs on the CPU.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { P2SamError } from './errors';
import { native, nativeFile } from './native';

export interface BackendStatus {
  available: boolean;
  reason?: string;
}

export interface Backends {
  cpu: BackendStatus;
  cuda: BackendStatus & {
    /** The addon's own CUDA kernels were compiled in (nvcc was present at build time). */
    kernelsCompiled: boolean;
    device?: string;
    computeCapability?: string;
    /** ONNX Runtime's CUDA execution provider library was found beside the runtime. */
    onnxRuntimeProvider: boolean;
  };
  onnxRuntime: string;
  addon: string;
}

export function cudaProviderLibrary(): string {
  return path.join(path.dirname(nativeFile()), 'libonnxruntime_providers_cuda.so');
}

export function backends(): Backends {
  const b = native().backends();
  const provider = existsSync(cudaProviderLibrary());
  let reason: string | undefined;
  if (!b.cuda.compiled) reason = b.cuda.reason;
  else if (!b.cuda.available) reason = `no usable GPU: ${b.cuda.reason}`;
  else if (!provider)
    reason = `ONNX Runtime's CUDA execution provider (libonnxruntime_providers_cuda.so) is not installed beside ${path.dirname(nativeFile())}`;
  return {
    cpu: { available: true },
    cuda: {
      available: reason === undefined,
      ...(reason ? { reason } : {}),
      kernelsCompiled: b.cuda.compiled,
      ...(b.cuda.available ? { device: b.cuda.deviceName, computeCapability: b.cuda.computeCapability } : {}),
      onnxRuntimeProvider: provider,
    },
    onnxRuntime: b.ortVersion,
    addon: nativeFile(),
  };
}

/** auto → cuda when available else cpu (with the reason); cuda → error when unavailable. */
export function resolveDevice(device: 'auto' | 'cpu' | 'cuda'): { device: 'cpu' | 'cuda'; reason?: string } {
  if (device === 'cpu') return { device: 'cpu' };
  const b = backends();
  if (b.cuda.available) return { device: 'cuda' };
  if (device === 'cuda') throw new P2SamError('BACKEND_UNAVAILABLE', `device 'cuda' is not available: ${b.cuda.reason}`);
  return { device: 'cpu', reason: `device 'auto' fell back to the CPU: ${b.cuda.reason}` };
}
