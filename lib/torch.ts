/**
 * TorchScript models: telling them apart from ONNX files, and the lazily required
 * libtorch addon (p2sam_torch.node) that loads them.
 *
 * Why a second addon: mapping libtorch into a process costs about a second and ~290
 * shared libraries. p2sam.node never links it; this module requires p2sam_torch.node the
 * first time a TorchScript model is loaded, so a process that only runs ONNX models
 * never has libtorch in its address space (test/torch-isolation.test.ts checks
 * /proc/self/maps). The torch addon returns its runners as one opaque hand-off that
 * p2sam.node's loadModels adopts: the engine that runs them is the same code.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import path from 'node:path';
import { P2SamError } from './errors';
import { call, type NativeGraphInfo, nativeFile } from './native';
import type { ModelKind } from './types';
import type { Device } from './options';

/** An opaque native object owning the loaded TorchScript runners until p2sam.node adopts them. */
export type TorchRunnerHandoff = { readonly __brand: 'TorchRunnerHandoff' };

export interface TorchAddonStatus {
  version: string;
  cudaCompiled: boolean;
  cudaAvailable: boolean;
  cudaDevices: number;
  reason?: string;
  interfaceVersion: number;
}

interface TorchAddon {
  loadRunners(options: {
    encoder?: { path: string } | { bytes: Uint8Array };
    decoder?: { path: string } | { bytes: Uint8Array };
    device: 'cpu' | 'cuda';
    threads: number;
  }): Promise<TorchRunnerHandoff>;
  status(): TorchAddonStatus;
  inspectModel(
    source: { path: string } | { bytes: Uint8Array },
  ): Promise<NativeGraphInfo & { kind: ModelKind; maskOutputs: number; reason: string }>;
}

/** Where the torch addon is: `P2SAM_TORCH_NATIVE_PATH`, else beside p2sam.node. */
export function torchAddonFile(): string {
  return process.env.P2SAM_TORCH_NATIVE_PATH || path.join(path.dirname(nativeFile()), 'p2sam_torch.node');
}

/**
 * Whether the torch addon was built, without loading it (and libtorch): the build leaves
 * p2sam-torch-status.txt beside the addons saying what it did.
 */
export function torchBuildStatus(): { built: boolean; file: string; reason?: string } {
  const file = torchAddonFile();
  if (existsSync(file)) return { built: true, file };
  const note = path.join(path.dirname(file), 'p2sam-torch-status.txt');
  const reason = existsSync(note)
    ? `p2sam_torch.node ${readFileSync(note, 'utf8').trim()}`
    : `p2sam_torch.node is not at ${file} (this build predates it or was made by node-gyp, which builds only p2sam.node)`;
  return { built: false, file, reason };
}

let addon: TorchAddon | undefined;

/** Requires p2sam_torch.node (and with it libtorch) on first use. */
export function torchAddon(): TorchAddon {
  if (addon) return addon;
  const status = torchBuildStatus();
  if (!status.built)
    throw new P2SamError(
      'BACKEND_UNAVAILABLE',
      `TorchScript models need the libtorch addon: ${status.reason}`,
    );
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    addon = require(status.file) as TorchAddon;
  } catch (err) {
    throw new P2SamError(
      'BACKEND_UNAVAILABLE',
      `p2sam_torch.node could not be loaded (${(err as Error).message}); libtorch must be installed where it was at build time`,
    );
  }
  return addon;
}

/** libtorch's version and CUDA status; loads the torch addon. */
export function torchStatus(): TorchAddonStatus {
  return torchAddon().status();
}

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
const TORCH_EXTENSIONS = ['.pt', '.pth', '.ptl', '.torchscript'];

function startsWithZip(head: Uint8Array): boolean {
  return ZIP_MAGIC.every((b, i) => head[i] === b);
}

/**
 * True when a model given to P2SAM.load is for libtorch rather than ONNX Runtime: it
 * starts with the zip signature (TorchScript archives are zips; ONNX files are
 * protobuf and never do), or its file name ends in .pt/.pth/.ptl/.torchscript. Which
 * kind of PyTorch file it is — TorchScript, or a bare checkpoint that has to go through
 * `p2sam export` first — the torch addon decides and reports with a coded error.
 *
 * @example
 * isTorchScriptModel('models/sam_vit_b.decoder.pt'); // true
 * isTorchScriptModel(readFileSync('models/decoder.onnx')); // false
 */
export function isTorchScriptModel(source: string | Uint8Array): boolean {
  if (source instanceof Uint8Array) return startsWithZip(source);
  if (TORCH_EXTENSIONS.some((ext) => source.toLowerCase().endsWith(ext))) return true;
  let fd: number | undefined;
  try {
    fd = openSync(source, 'r');
    const head = new Uint8Array(4);
    return readSync(fd, head, 0, 4, 0) === 4 && startsWithZip(head);
  } catch {
    return false; // unreadable: the ONNX path reports MODEL_NOT_FOUND with its own wording
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Loads the TorchScript members of a pair on the libuv pool; the rest stays ONNX. */
export async function loadTorchRunners(options: {
  encoder?: { path: string } | { bytes: Uint8Array };
  decoder?: { path: string } | { bytes: Uint8Array };
  device: 'cpu' | 'cuda';
  threads: number;
}): Promise<TorchRunnerHandoff> {
  return call(torchAddon().loadRunners(options));
}

/**
 * Where the TorchScript models run for a load's `modelDevice` (or `device`): 'cuda' needs
 * a libtorch built with CUDA that sees a GPU; 'auto' takes it when there is one. Loads
 * the torch addon (only called when a TorchScript model was given).
 */
export function resolveTorchDevice(
  asked: Device,
  option: string,
): { device: 'cpu' | 'cuda'; reason?: string } {
  if (asked === 'cpu') return { device: 'cpu' };
  const status = torchStatus();
  if (status.cudaAvailable) return { device: 'cuda' };
  if (asked === 'cuda')
    throw new P2SamError(
      'BACKEND_UNAVAILABLE',
      `${option} 'cuda' is not available for the TorchScript models: ${status.reason}`,
    );
  return {
    device: 'cpu',
    reason: `${option} 'auto' fell back to the CPU for the TorchScript models: ${status.reason}`,
  };
}
