/**
 * `p2sam inspect` for clinical files: DICOM folders and files (series, slices, spacing,
 * orientation), RTSTRUCT (ROIs, contour counts, referenced series), SEG (segments,
 * frames) and NIfTI (grid, spacing, value range). Called from inspect.ts for every
 * argument that is not an ONNX model.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { readDicomSeries, scanDicomFolder } from '../clinical/dicom-series';
import { readDicomFile, text, numbers, SOP_CLASS } from '../clinical/dicom-file';
import { readRtstructInfo } from '../clinical/rtstruct-read';
import { readDicomSegInfo } from '../clinical/seg';
import { readNifti } from '../clinical/nifti';
import { sliceOffsets, type Volume } from '../clinical/volume';

/** True for paths inspect should hand to the clinical reporter rather than ONNX. */
export function isClinicalPath(p: string): boolean {
  if (!existsSync(p)) return false;
  if (statSync(p).isDirectory()) return true;
  if (/\.(nii|nii\.gz|dcm|dicom)$/i.test(p)) return true;
  if (/\.onnx$/i.test(p)) return false;
  // Extension-less DICOM files (CT5N/2062) are common: look for the Part 10 marker.
  const fd = openSync(p, 'r');
  try {
    const head = Buffer.alloc(132);
    const n = readSync(fd, head, 0, 132, 0);
    return n === 132 && head.toString('latin1', 128, 132) === 'DICM';
  } finally {
    closeSync(fd);
  }
}

export interface ClinicalReport {
  file: string;
  kind: 'dicom-series' | 'dicom-image' | 'rtstruct' | 'seg' | 'nifti' | 'folder' | 'invalid';
  lines: string[];
  json: Record<string, unknown>;
  error?: string;
}

function geometryLines(v: Volume): { lines: string[]; json: Record<string, unknown> } {
  const offsets = sliceOffsets(v);
  const gaps = offsets.slice(1).map((o, i) => o - offsets[i]!);
  const gapText = gaps.length ? `${Math.min(...gaps).toFixed(3)}–${Math.max(...gaps).toFixed(3)} mm` : '-';
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of v.voxels) {
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  const json = {
    columns: v.columns,
    rows: v.rows,
    slices: v.slices,
    pixelSpacing: v.pixelSpacing,
    sliceGaps: gaps,
    orientation: [...v.rowDirection, ...v.columnDirection],
    firstPosition: v.positions[0],
    lastPosition: v.positions[v.positions.length - 1],
    valueRange: [lo, hi],
    warnings: v.warnings.map((w) => w.message),
  };
  const lines = [
    `  grid ${v.columns}×${v.rows}×${v.slices}, pixel spacing ${v.pixelSpacing.map((s) => s.toFixed(4)).join(' × ')} mm, slice gaps ${gapText}`,
    `  orientation [${json.orientation.map((x) => x.toFixed(4)).join(', ')}], first slice at (${v.positions[0]!.map((x) => x.toFixed(2)).join(', ')}) mm`,
    `  values ${lo}…${hi}${v.modality === 'CT' ? ' HU' : ''}`,
    ...v.warnings.map((w) => `  warning: ${w.message}`),
  ];
  return { lines, json };
}

async function inspectOne(p: string): Promise<ClinicalReport[]> {
  if (/\.nii(\.gz)?$/i.test(p)) {
    const v = readNifti(p);
    const g = geometryLines(v);
    return [
      {
        file: p,
        kind: 'nifti',
        lines: [`${p}: NIfTI`, ...g.lines],
        json: { file: p, kind: 'nifti', ...g.json },
      },
    ];
  }
  if (statSync(p).isDirectory()) {
    const scan = scanDicomFolder(p);
    const out: ClinicalReport[] = [];
    for (const s of scan.series) {
      let v: Volume;
      try {
        v = await readDicomSeries(p, { seriesInstanceUid: s.seriesInstanceUid });
      } catch (err) {
        const e = err as Error & { code?: string };
        out.push({
          file: p,
          kind: 'invalid',
          lines: [
            `${p}: series ${s.seriesInstanceUid} cannot be read: ${e.message}${e.code ? ` [${e.code}]` : ''}`,
          ],
          json: {
            file: p,
            kind: 'invalid',
            seriesInstanceUid: s.seriesInstanceUid,
            error: e.message,
            code: e.code,
          },
          error: e.message,
        });
        continue;
      }
      const g = geometryLines(v);
      out.push({
        file: p,
        kind: 'dicom-series',
        lines: [
          `${p}: ${s.modality} series ${s.seriesInstanceUid}${s.description ? ` "${s.description}"` : ''}, ${s.files.length} file(s)`,
          ...g.lines,
        ],
        json: {
          file: p,
          kind: 'dicom-series',
          seriesInstanceUid: s.seriesInstanceUid,
          modality: s.modality,
          description: s.description,
          files: s.files.length,
          ...g.json,
        },
      });
    }
    for (const o of scan.objects) out.push(...(await inspectOne(o.file)));
    for (const b of scan.broken) {
      out.push({
        file: b.file,
        kind: 'invalid',
        lines: [`${b.file}: cannot be read: ${b.error.message} [${b.error.code}]`],
        json: { file: b.file, kind: 'invalid', error: b.error.message, code: b.error.code },
        error: b.error.message,
      });
    }
    if (!out.length)
      out.push({
        file: p,
        kind: 'folder',
        lines: [`${p}: no DICOM series or objects (${scan.skipped.length} unreadable file(s))`],
        json: { file: p, kind: 'folder', skipped: scan.skipped.length },
      });
    return out;
  }
  const df = readDicomFile(p);
  const sop = text(df.dataset, 'SOPClassUID');
  const modality = text(df.dataset, 'Modality');
  if (sop === SOP_CLASS.rtstruct || modality === 'RTSTRUCT') {
    const info = readRtstructInfo(p);
    return [
      {
        file: p,
        kind: 'rtstruct',
        lines: [
          `${p}: RTSTRUCT "${info.label}", ${info.rois.length} ROI(s), on series ${info.referencedSeriesUids.join(', ') || '?'} (${info.referencedSopInstanceUids.length} referenced images)`,
          ...info.rois.map(
            (r) =>
              `  ROI ${r.number} "${r.name}": ${r.contours} contour(s)${r.types.length ? ` ${r.types.join('/')}` : ''}${r.interpretedType ? `, ${r.interpretedType}` : ''}${r.generationAlgorithm ? `, ${r.generationAlgorithm}` : ''}`,
          ),
        ],
        json: {
          file: p,
          kind: 'rtstruct',
          label: info.label,
          referencedSeriesUids: info.referencedSeriesUids,
          frameOfReferenceUid: info.frameOfReferenceUid,
          rois: info.rois,
        },
      },
    ];
  }
  if (sop === SOP_CLASS.seg || modality === 'SEG') {
    const info = readDicomSegInfo(p);
    return [
      {
        file: p,
        kind: 'seg',
        lines: [
          `${p}: SEG ${info.segmentationType}, ${info.columns}×${info.rows}, ${info.frames} frame(s), on series ${info.referencedSeriesUids.join(', ') || '?'}`,
          ...info.segments.map(
            (s) => `  segment ${s.number} "${s.label}": ${s.frames} frame(s), ${s.algorithmType}`,
          ),
        ],
        json: {
          file: p,
          kind: 'seg',
          segmentationType: info.segmentationType,
          rows: info.rows,
          columns: info.columns,
          frames: info.frames,
          referencedSeriesUids: info.referencedSeriesUids,
          segments: info.segments,
        },
      },
    ];
  }
  const v = await readDicomSeries(p);
  const g = geometryLines(v);
  return [
    {
      file: p,
      kind: 'dicom-image',
      lines: [
        `${p}: ${modality} image, transfer syntax ${df.transferSyntax}, series ${text(df.dataset, 'SeriesInstanceUID')}, bits ${numbers(df.dataset, 'BitsStored')?.[0] ?? '?'}`,
        ...g.lines,
      ],
      json: { file: p, kind: 'dicom-image', modality, transferSyntax: df.transferSyntax, ...g.json },
    },
  ];
}

/** Reports every path; a path that fails becomes an 'invalid' entry with the error. */
export async function inspectClinical(paths: string[]): Promise<ClinicalReport[]> {
  const out: ClinicalReport[] = [];
  for (const p of paths) {
    try {
      out.push(...(await inspectOne(p)));
    } catch (err) {
      const code = (err as { code?: string }).code;
      const message = err instanceof Error ? err.message : String(err);
      out.push({
        file: p,
        kind: 'invalid',
        lines: [`${p}: cannot be read: ${message}${code ? ` [${code}]` : ''}`],
        json: { file: p, kind: 'invalid', error: message, code },
        error: message,
      });
    }
  }
  return out;
}
