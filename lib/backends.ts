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
import { torchBuildStatus } from './torch';
import type { Device } from './options';

export interface BackendStatus {
  available: boolean;
  reason?: string;
}

export interface Backends {
  cpu: BackendStatus;
  cuda: BackendStatus & {
    /** The addon's own CUDA kernels were compiled in (nvcc was present at build time). */
    kernelsCompiled: boolean;
    /**
     * The kernels can run here (compiled in, a driver and a device answer, and a test
     * kernel of this build ran on it): the P2SAM maths — k-means, point selection,
     * transport costs — can use the GPU.
     */
    kernelsAvailable: boolean;
    device?: string;
    computeCapability?: string;
    /** ONNX Runtime's CUDA execution provider library was found beside the runtime. */
    onnxRuntimeProvider: boolean;
  };
  onnxRuntime: string;
  addon: string;
  /**
   * TorchScript models (p2sam_torch.node, libtorch). Reported without loading libtorch:
   * `available` says the addon was built; {@link torchStatus} loads it and tells libtorch's
   * version and whether it has CUDA.
   */
  torch: BackendStatus & { addon: string };
}

export function cudaProviderLibrary(): string {
  return path.join(path.dirname(nativeFile()), 'libonnxruntime_providers_cuda.so');
}

/**
 * What this build can run on here. `available` = everything `device: 'cuda'` needs:
 * kernels, a GPU, and ORT's CUDA provider; each missing piece comes with its reason.
 *
 * @throws {P2SamError} `INTERNAL` when the native addon cannot be loaded at all.
 * @example
 * ```ts
 * const b = backends();
 * console.log(b.ortVersion, b.cuda.available ? b.cuda.deviceName : b.cuda.reason);
 * ```
 */
export function backends(): Backends {
  const b = native().backends();
  const torchBuild = torchBuildStatus();
  const provider = existsSync(cudaProviderLibrary());
  let kernelsReason: string | undefined;
  if (!b.cuda.compiled) kernelsReason = b.cuda.reason;
  else if (!b.cuda.available) kernelsReason = `no usable GPU: ${b.cuda.reason}`;
  const reason =
    kernelsReason ??
    (provider
      ? undefined
      : `ONNX Runtime's CUDA execution provider (libonnxruntime_providers_cuda.so) is not installed beside ${path.dirname(nativeFile())}`);
  return {
    cpu: { available: true },
    cuda: {
      available: reason === undefined,
      ...(reason ? { reason } : {}),
      kernelsCompiled: b.cuda.compiled,
      kernelsAvailable: kernelsReason === undefined,
      ...(b.cuda.available ? { device: b.cuda.deviceName, computeCapability: b.cuda.computeCapability } : {}),
      onnxRuntimeProvider: provider,
    },
    onnxRuntime: b.ortVersion,
    addon: nativeFile(),
    torch: {
      available: torchBuild.built,
      ...(torchBuild.reason ? { reason: torchBuild.reason } : {}),
      addon: torchBuild.file,
    },
  };
}

export interface ResolvedDevices {
  /** Where the addon's P2SAM maths runs (k-means, point selection, transport costs). */
  device: 'cpu' | 'cuda';
  /** Where the ONNX Runtime sessions (encoder, decoder) run. */
  modelDevice: 'cpu' | 'cuda';
  /** Why 'auto' chose the CPU for either, when it did. */
  reason?: string;
}

/**
 * `device` places the maths and, unless `modelDevice` says otherwise, the ONNX sessions.
 * 'cpu' always works; 'auto' takes CUDA where it is usable and records why not; 'cuda'
 * throws BACKEND_UNAVAILABLE with the reason. The two halves need different things:
 * the maths needs the kernels and a GPU, the sessions also need ORT's CUDA provider —
 * so `{ device: 'cuda', modelDevice: 'cpu' }` runs the maths on a GPU whose machine has
 * no provider installed.
 */
export function resolveDevices(device: Device, modelDevice: Device = device): ResolvedDevices {
  if (device === 'cpu' && modelDevice === 'cpu') return { device: 'cpu', modelDevice: 'cpu' };
  const cuda = backends().cuda;
  // Either half can only fail for the first missing piece, which is cuda.reason.
  const why = cuda.reason;
  const fallbacks: { option: string; what: string }[] = [];
  const pick = (asked: Device, usable: boolean, what: string, option: string): 'cpu' | 'cuda' => {
    if (asked === 'cpu') return 'cpu';
    if (usable) return 'cuda';
    if (asked === 'cuda') {
      const hint =
        option === 'options.device' && cuda.kernelsAvailable
          ? "; pass modelDevice: 'cpu' to run only the P2SAM maths on the GPU"
          : '';
      throw new P2SamError(
        'BACKEND_UNAVAILABLE',
        `${option} 'cuda' is not available for ${what}: ${why}${hint}`,
      );
    }
    fallbacks.push({ option, what });
    return 'cpu';
  };
  const maths = pick(device, cuda.kernelsAvailable, 'the P2SAM maths', 'options.device');
  const sessions = pick(
    modelDevice,
    cuda.available,
    'the ONNX Runtime sessions',
    modelDevice === device ? 'options.device' : 'options.modelDevice',
  );
  // Both halves falling back under one option read better as one sentence.
  const merged =
    fallbacks.length === 2 && fallbacks[0].option === fallbacks[1].option
      ? [{ ...fallbacks[0], what: `${fallbacks[0].what} and ${fallbacks[1].what}` }]
      : fallbacks;
  const reason = merged
    .map((f) => `${f.option} 'auto' fell back to the CPU for ${f.what}: ${why}`)
    .join('; ');
  return { device: maths, modelDevice: sessions, ...(reason ? { reason } : {}) };
}
