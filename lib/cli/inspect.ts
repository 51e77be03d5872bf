/**
 * `p2sam inspect MODEL.onnx…`: what each file is and whether P2SAM can use it, without
 * loading a pair (docs/algorithm.md §3). Detection itself is the library's `inspectModel`; this adds
 * the opset (read from the file header, see lib/onnx/header.ts), a plain-words input form,
 * and a table.
 *
 * Exit status: 0 when every file could be read as an ONNX model (usable or not — "not
 * usable, because…" is an answer), 1 when some file is not a readable model, 2 for a
 * path that does not exist.
 */
import { statSync } from 'node:fs';
import { Command } from 'commander';
import { inspectModel, type ModelReport } from '../inspect';
import type { NativeTensorInfo } from '../native';
import { requireFile } from './args';
import { EXIT_FAILURE, EXIT_OK } from './exit-codes';
import type { CliIO } from './io';
import { formatOpsets, readOnnxHeader, type OnnxHeader } from '../onnx/header';
import { inspectClinical, isClinicalPath } from './inspect-clinical';

/** A ModelReport (inputs/outputs/producer only when the file parsed) plus CLI extras. */
type AlwaysKnown = 'file' | 'bytes' | 'kind' | 'role' | 'usable' | 'reason';
export interface InspectEntry
  extends Pick<ModelReport, Exclude<AlwaysKnown, 'kind'>>,
    Partial<Omit<ModelReport, AlwaysKnown>> {
  /** 'invalid' when the file could not be read as a model at all. */
  kind: ModelReport['kind'] | 'invalid';
  /** How the model wants its input, in words. */
  inputForm: string;
  opsets?: OnnxHeader['opsets'];
  irVersion?: number;
  /** Set when the file could not be read as a model at all. */
  error?: string;
}

const ELEM: Record<string, string> = {
  float32: 'f32',
  float16: 'f16',
  float64: 'f64',
  int64: 'i64',
  int32: 'i32',
  uint8: 'u8',
  bool: 'bool',
};

function tensor(t: NativeTensorInfo): string {
  const dims = t.dims.map((d) =>
    d === null || d === undefined || (typeof d === 'number' && d < 0) ? '?' : String(d),
  );
  return `${t.name} ${ELEM[t.type] ?? t.type}[${dims.join(',')}]`;
}

function inputForm(r: ModelReport): string {
  switch (r.kind) {
    case 'sam-encoder-image':
      return 'input_image f32[H,W,3]: RGB 0-255 resized to long side 1024; normalises and pads inside';
    case 'sam-encoder-preprocessed':
      return 'f32[1,3,1024,1024]: normalised and padded by the caller';
    case 'sam-decoder':
      return 'SAM v1 prompts: points/box, mask_input, orig_im_size';
    case 'sam2-encoder':
      return 'image f32[1,3,1024,1024] (SAM 2)';
    case 'sam2-decoder':
      return 'SAM 2 prompts with high-res features';
    default:
      return r.inputs.map(tensor).join(', ') || '(no inputs)';
  }
}

function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

export async function inspectFiles(files: string[]): Promise<InspectEntry[]> {
  for (const f of files) requireFile('MODEL', f);
  const out: InspectEntry[] = [];
  for (const file of files) {
    let header: OnnxHeader | undefined;
    try {
      header = readOnnxHeader(file);
    } catch {
      // The runtime's parse below gives the authoritative error; the opset just stays unknown.
    }
    try {
      const r = await inspectModel(file);
      out.push({
        ...r,
        inputForm: inputForm(r),
        ...(header ? { opsets: header.opsets, irVersion: header.irVersion } : {}),
      });
    } catch (err) {
      out.push({
        file,
        bytes: statSync(file).size,
        kind: 'invalid',
        role: 'unknown',
        usable: false,
        reason: err instanceof Error ? err.message : String(err),
        inputForm: '-',
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }
  return out;
}

export function formatInspect(entries: InspectEntry[]): string {
  const rows = [['file', 'kind', 'role', 'input', 'masks', 'opset', 'size', 'usable']];
  for (const e of entries) {
    const input =
      e.kind === 'sam-encoder-image'
        ? 'H×W×3 RGB'
        : e.kind === 'sam-encoder-preprocessed'
          ? '1×3×1024×1024'
          : e.kind === 'sam-decoder'
            ? 'points+mask'
            : e.kind === 'invalid'
              ? '-'
              : (e.inputs ?? []).map(tensor).join(', ');
    rows.push([
      e.file,
      e.kind,
      e.role,
      input,
      e.maskOutputs === undefined ? '-' : e.maskOutputs === 0 ? 'dynamic' : String(e.maskOutputs),
      e.opsets ? formatOpsets(e.opsets) : '?',
      humanBytes(e.bytes),
      e.usable ? 'yes' : 'no',
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const lines = rows.map((r) =>
    r
      .map((cell, c) => (c === 6 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd(),
  );
  const notes = entries
    .filter((e) => e.reason)
    .map((e) => `${e.file}: ${e.usable ? 'note' : 'not usable'}: ${e.reason}`);
  const forms = entries.filter((e) => e.kind !== 'invalid').map((e) => `${e.file}: ${e.inputForm}`);
  return `${[...lines, '', ...forms, ...(notes.length ? ['', ...notes] : [])].join('\n')}\n`;
}

export function inspectCommand(io: CliIO, setExit: (code: number) => void): Command {
  return new Command('inspect')
    .description(
      'what each .onnx file is (encoder/decoder, input form, mask outputs, opset, size) and whether P2SAM can use it',
    )
    .argument('<models...>', '.onnx files; also DICOM folders/files, RTSTRUCT, SEG and NIfTI (.nii/.nii.gz)')
    .option('--json', 'print one JSON line per model')
    .action(async (paths: string[], flags: Record<string, unknown>) => {
      // Clinical files get their own report (inspect-clinical.ts); the rest are models.
      const clinical = await inspectClinical(paths.filter(isClinicalPath));
      for (const c of clinical)
        io.stdout.write(flags.json ? `${JSON.stringify(c.json)}\n` : `${c.lines.join('\n')}\n`);
      const models = paths.filter((p) => !isClinicalPath(p));
      if (!models.length)
        return setExit(clinical.some((c) => c.error !== undefined) ? EXIT_FAILURE : EXIT_OK);
      const entries = await inspectFiles(models);
      if (flags.json) for (const e of entries) io.stdout.write(`${JSON.stringify(e)}\n`);
      else io.stdout.write(formatInspect(entries));
      setExit(
        entries.some((e) => e.error !== undefined) || clinical.some((c) => c.error !== undefined)
          ? EXIT_FAILURE
          : EXIT_OK,
      );
    });
}
