/**
 * A folder of DICOM files → one `Volume`.
 *
 * Files are grouped by SeriesInstanceUID; within the chosen series slices are sorted by
 * the projection of ImagePositionPatient on the slice normal, the only order that is
 * right whatever the file names, InstanceNumbers or scanner. A series that cannot be one
 * voxel grid is refused with a coded error naming the files: different image sizes or
 * pixel spacings, mixed orientations, two slices at one position, or slice origins that
 * do not line up along the normal (gantry tilt / sheared stacks). Uneven spacing is kept
 * exactly (each slice keeps its position); a gap much larger than the usual spacing is
 * flagged as possible missing slices, and refused with `requireContiguous`.
 */
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { P2SamError } from '../errors';
import { decodeFrames, pixelFormat, rescaleOf } from './codecs';
import dcmjs from './dcmjs';
import { newUid, numbers, readDicomFile, SOP_CLASS, text, type DicomFile } from './dicom-file';
import {
  cross,
  dot,
  normalize,
  type PatientStudy,
  type Vec3,
  type Volume,
  type VolumeWarning,
} from './volume';

export interface ReadSeriesOptions {
  /** Which series to read when the folder holds several (SeriesInstanceUID). */
  seriesInstanceUid?: string;
  /** Refuse (DICOM_SERIES_INVALID) instead of flag a gap that looks like missing slices. */
  requireContiguous?: boolean;
}

export interface SeriesSummary {
  seriesInstanceUid: string;
  modality: string;
  description: string;
  /** Files (slices) of the series. */
  files: string[];
  rows: number;
  columns: number;
}

export interface BrokenFile {
  file: string;
  /** SeriesInstanceUID read from the header, when the header itself is readable. */
  seriesInstanceUid?: string;
  error: P2SamError;
}

export interface FolderScan {
  /** Image series (files with pixel data that are not SEG objects). */
  series: SeriesSummary[];
  /** Non-image objects found: RTSTRUCT, SEG, others. */
  objects: Array<{ file: string; modality: string; sopClassUid: string; seriesInstanceUid: string }>;
  /** Files that are not DICOM at all (no Part 10 marker and no data set), with the reason. */
  skipped: Array<{ file: string; reason: string }>;
  /** Files that say they are DICOM but cannot be read (truncated, corrupt). */
  broken: BrokenFile[];
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const p = path.join(d, entry.name);
      // PACS exports and study folders often link slices in; follow file links, but not
      // directory links (a link back up the tree would loop).
      const isFile =
        entry.isFile() ||
        (entry.isSymbolicLink() && statSync(p, { throwIfNoEntry: false })?.isFile() === true);
      if (entry.isDirectory()) walk(p);
      else if (isFile) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** The SeriesInstanceUID of a file whose pixel data cannot be read, from its header alone. */
function peekSeries(file: string): { seriesInstanceUid?: string } {
  try {
    const b = readFileSync(file);
    const parsed = dcmjs().data.DicomMessage.readFile(
      b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer,
      { untilTag: '7FE00010' },
    );
    const uid = text(dcmjs().data.DicomMetaDictionary.naturalizeDataset(parsed.dict), 'SeriesInstanceUID');
    return uid ? { seriesInstanceUid: uid } : {};
  } catch {
    return {};
  }
}

/** A file that says it is DICOM (preamble + "DICM") but cannot be read is an error, not junk. */
function hasPart10Marker(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(132);
    return readSync(fd, head, 0, 132, 0) === 132 && head.toString('latin1', 128, 132) === 'DICM';
  } finally {
    closeSync(fd);
  }
}

function isImage(df: DicomFile): boolean {
  const sop = text(df.dataset, 'SOPClassUID');
  return (
    df.dataset.PixelData !== undefined && sop !== SOP_CLASS.seg && text(df.dataset, 'Modality') !== 'SEG'
  );
}

interface Scanned {
  scan: FolderScan;
  filesBySeries: Map<string, DicomFile[]>;
}

function scanInternal(dirOrFile: string): Scanned {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(dirOrFile);
  } catch {
    throw new P2SamError('TARGET_NOT_FOUND', `${dirOrFile}: no such file or folder`);
  }
  const files = st.isDirectory() ? listFiles(dirOrFile) : [dirOrFile];
  const scan: FolderScan = { series: [], objects: [], skipped: [], broken: [] };
  const filesBySeries = new Map<string, DicomFile[]>();
  for (const file of files) {
    let df: DicomFile;
    try {
      df = readDicomFile(file);
    } catch (err) {
      // In a folder, other files (README, DICOMDIR-less junk) are normal; a single
      // named file that is not DICOM is the caller's error.
      if (!st.isDirectory() || !(err instanceof P2SamError)) throw err;
      if (hasPart10Marker(file)) scan.broken.push({ file, error: err, ...peekSeries(file) });
      else scan.skipped.push({ file, reason: err.message });
      continue;
    }
    const uid = text(df.dataset, 'SeriesInstanceUID');
    if (!isImage(df)) {
      scan.objects.push({
        file,
        modality: text(df.dataset, 'Modality'),
        sopClassUid: text(df.dataset, 'SOPClassUID'),
        seriesInstanceUid: uid,
      });
      continue;
    }
    const list = filesBySeries.get(uid) ?? [];
    list.push(df);
    filesBySeries.set(uid, list);
  }
  for (const [uid, list] of filesBySeries) {
    const ds = list[0]!.dataset;
    scan.series.push({
      seriesInstanceUid: uid,
      modality: text(ds, 'Modality'),
      description: text(ds, 'SeriesDescription'),
      files: list.map((d) => d.file),
      rows: numbers(ds, 'Rows')?.[0] ?? 0,
      columns: numbers(ds, 'Columns')?.[0] ?? 0,
    });
  }
  return { scan, filesBySeries };
}

/**
 * What a folder holds: image series, RTSTRUCT/SEG objects and unreadable files.
 *
 * @example
 *   const { series } = scanDicomFolder('study/');
 *   for (const s of series) console.log(s.seriesInstanceUid, s.modality, s.files.length);
 */
export function scanDicomFolder(dirOrFile: string): FolderScan {
  return scanInternal(dirOrFile).scan;
}

function describeSeries(s: SeriesSummary): string {
  return `${s.seriesInstanceUid} (${s.modality || '?'}${s.description ? ` "${s.description}"` : ''}, ${s.files.length} file${s.files.length === 1 ? '' : 's'}, ${s.columns}×${s.rows})`;
}

function fileList(files: string[], max = 6): string {
  return files.length <= max
    ? files.join(', ')
    : `${files.slice(0, max).join(', ')} and ${files.length - max} more`;
}

function patientStudy(ds: DicomFile['dataset']): PatientStudy {
  return {
    PatientName: text(ds, 'PatientName'),
    PatientID: text(ds, 'PatientID'),
    PatientBirthDate: text(ds, 'PatientBirthDate'),
    PatientSex: text(ds, 'PatientSex'),
    StudyInstanceUID: text(ds, 'StudyInstanceUID'),
    StudyDate: text(ds, 'StudyDate'),
    StudyTime: text(ds, 'StudyTime'),
    StudyID: text(ds, 'StudyID'),
    AccessionNumber: text(ds, 'AccessionNumber'),
    ReferringPhysicianName: text(ds, 'ReferringPhysicianName'),
    ...(text(ds, 'StudyDescription') ? { StudyDescription: text(ds, 'StudyDescription') } : {}),
  };
}

const ORIENTATION_TOLERANCE = 1e-4; // direction cosines are written with ~6 decimals
const POSITION_TOLERANCE_MM = 0.01;

/**
 * Reads one image series from a folder (recursively) or a single image file.
 *
 * @example
 *   const ct = await readDicomSeries('/data/patient1/CT');
 *   console.log(ct.columns, ct.rows, ct.slices, ct.positions[0], ct.pixelSpacing);
 *   // several series in the folder → P2SamError DICOM_SERIES_CHOICE listing them; then:
 *   const one = await readDicomSeries('/data/patient1', { seriesInstanceUid: '1.2.3…' });
 */
export async function readDicomSeries(dirOrFile: string, options: ReadSeriesOptions = {}): Promise<Volume> {
  const { scan, filesBySeries } = scanInternal(dirOrFile);
  if (!scan.series.length && scan.broken.length) throw scan.broken[0]!.error;
  if (!scan.series.length) {
    const why = scan.skipped.length
      ? `; ${scan.skipped.length} unreadable file(s), first: ${scan.skipped[0]!.reason}`
      : '';
    const objs = scan.objects.length
      ? `; non-image objects: ${scan.objects.map((o) => `${o.file} (${o.modality})`).join(', ')}`
      : '';
    throw new P2SamError(
      'DICOM_NO_SERIES',
      `${dirOrFile}: expected DICOM image files, found no image series${objs}${why}`,
    );
  }
  let chosen: SeriesSummary;
  if (options.seriesInstanceUid !== undefined) {
    const hit = scan.series.find((s) => s.seriesInstanceUid === options.seriesInstanceUid);
    if (!hit) {
      throw new P2SamError(
        'DICOM_SERIES_CHOICE',
        `${dirOrFile}: no series ${options.seriesInstanceUid}; the folder holds: ${scan.series.map(describeSeries).join('; ')}`,
      );
    }
    chosen = hit;
  } else if (scan.series.length > 1) {
    throw new P2SamError(
      'DICOM_SERIES_CHOICE',
      `${dirOrFile}: holds ${scan.series.length} image series; choose one with seriesInstanceUid (--series): ${scan.series.map(describeSeries).join('; ')}`,
    );
  } else {
    chosen = scan.series[0]!;
  }
  // A slice of this series that cannot be read (or a broken file whose series is unknown)
  // must not silently shorten the volume.
  const broken = scan.broken.find(
    (b) => b.seriesInstanceUid === undefined || b.seriesInstanceUid === chosen.seriesInstanceUid,
  );
  if (broken) throw broken.error;
  const dfs = filesBySeries.get(chosen.seriesInstanceUid)!;
  return assembleVolume(dirOrFile, dfs, options);
}

async function assembleVolume(where: string, dfs: DicomFile[], options: ReadSeriesOptions): Promise<Volume> {
  const first = dfs[0]!;
  const f0 = pixelFormat(first);
  const iop0 = numbers(first.dataset, 'ImageOrientationPatient') ?? [1, 0, 0, 0, 1, 0];
  const ps0 = numbers(first.dataset, 'PixelSpacing') ?? numbers(first.dataset, 'ImagerPixelSpacing');
  const sizeOff: string[] = [];
  const spacingOff: string[] = [];
  const orientations = new Map<string, string[]>();
  const noPosition: string[] = [];
  for (const df of dfs) {
    const f = pixelFormat(df);
    if (f.rows !== f0.rows || f.columns !== f0.columns) sizeOff.push(`${df.file} (${f.columns}×${f.rows})`);
    if (f.frames !== 1) {
      throw new P2SamError(
        'DICOM_UNSUPPORTED',
        `${df.file}: multi-frame images (${f.frames} frames) are not read as series slices; expected one frame per file`,
      );
    }
    const iop = numbers(df.dataset, 'ImageOrientationPatient');
    if (iop?.length !== 6) {
      if (dfs.length > 1) noPosition.push(df.file);
    } else {
      const key = iop.map((v) => v.toFixed(4)).join('\\');
      const matches = iop.every((v, i) => Math.abs(v - iop0[i]!) <= ORIENTATION_TOLERANCE);
      const k = matches ? iop0.map((v) => v.toFixed(4)).join('\\') : key;
      orientations.set(k, [...(orientations.get(k) ?? []), df.file]);
    }
    if (!numbers(df.dataset, 'ImagePositionPatient') && dfs.length > 1) noPosition.push(df.file);
    const ps = numbers(df.dataset, 'PixelSpacing') ?? numbers(df.dataset, 'ImagerPixelSpacing');
    if (ps0 && ps && (Math.abs(ps[0]! - ps0[0]!) > 1e-4 || Math.abs(ps[1]! - ps0[1]!) > 1e-4))
      spacingOff.push(`${df.file} (${ps.join('\\')})`);
  }
  if (sizeOff.length) {
    throw new P2SamError(
      'DICOM_SERIES_INVALID',
      `${where}: slices differ in size: ${dfs[0]!.file} is ${f0.columns}×${f0.rows} but ${fileList(sizeOff)}`,
    );
  }
  if (noPosition.length) {
    throw new P2SamError(
      'DICOM_SERIES_INVALID',
      `${where}: slices without ImagePositionPatient/ImageOrientationPatient cannot be ordered: ${fileList([...new Set(noPosition)])}`,
    );
  }
  if (orientations.size > 1) {
    const groups = [...orientations].map(([k, files]) => `[${k}]: ${fileList(files, 3)}`).join('; ');
    throw new P2SamError(
      'DICOM_SERIES_INVALID',
      `${where}: mixed ImageOrientationPatient within one series (not one volume): ${groups}`,
    );
  }
  if (spacingOff.length) {
    throw new P2SamError(
      'DICOM_SERIES_INVALID',
      `${where}: slices differ in PixelSpacing: ${dfs[0]!.file} has ${ps0!.join('\\')} but ${fileList(spacingOff)}`,
    );
  }
  const rowDirection = normalize([iop0[0]!, iop0[1]!, iop0[2]!]);
  const columnDirection = normalize([iop0[3]!, iop0[4]!, iop0[5]!]);
  const normal = normalize(cross(rowDirection, columnDirection));
  const slices = dfs.map((df) => {
    const p = (numbers(df.dataset, 'ImagePositionPatient') ?? [0, 0, 0]) as Vec3;
    return { df, position: [p[0], p[1], p[2]] as Vec3, offset: dot(p, normal) };
  });
  slices.sort((a, b) => a.offset - b.offset);

  for (let k = 1; k < slices.length; k++) {
    if (Math.abs(slices[k]!.offset - slices[k - 1]!.offset) < POSITION_TOLERANCE_MM) {
      throw new P2SamError(
        'DICOM_SERIES_INVALID',
        `${where}: two slices at one position (${slices[k]!.offset.toFixed(3)} mm along the normal): ${slices[k - 1]!.df.file} and ${slices[k]!.df.file}`,
      );
    }
  }
  // Gantry tilt: slice origins drift sideways, so the stack is sheared, not a grid.
  const sheared: string[] = [];
  for (const s of slices) {
    const d = [
      s.position[0] - slices[0]!.position[0],
      s.position[1] - slices[0]!.position[1],
      s.position[2] - slices[0]!.position[2],
    ];
    const along = dot(d, normal);
    const lateral = Math.hypot(
      d[0]! - along * normal[0],
      d[1]! - along * normal[1],
      d[2]! - along * normal[2],
    );
    if (lateral > Math.max(POSITION_TOLERANCE_MM, 1e-3 * Math.abs(along)))
      sheared.push(`${s.df.file} (${lateral.toFixed(2)} mm off the normal)`);
  }
  if (sheared.length) {
    const tilt = numbers(first.dataset, 'GantryDetectorTilt')?.[0];
    throw new P2SamError(
      'DICOM_SERIES_INVALID',
      `${where}: slice positions are not stacked along the slice normal (gantry tilt${tilt ? ` ${tilt}°` : ''} or a sheared series), cannot be one voxel grid: ${fileList(sheared)}`,
    );
  }

  const warnings: VolumeWarning[] = [];
  const gaps = slices.slice(1).map((s, i) => s.offset - slices[i]!.offset);
  if (gaps.length >= 2) {
    const sorted = [...gaps].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    const uneven = sorted[sorted.length - 1]! - sorted[0]! > 0.01 * median + POSITION_TOLERANCE_MM;
    for (let i = 0; i < gaps.length; i++) {
      if (gaps[i]! > 1.5 * median) {
        const files = [slices[i]!.df.file, slices[i + 1]!.df.file];
        const message = `${where}: a gap of ${gaps[i]!.toFixed(2)} mm between ${files[0]} and ${files[1]} (usual spacing ${median.toFixed(2)} mm): slices may be missing`;
        if (options.requireContiguous) throw new P2SamError('DICOM_SERIES_INVALID', message);
        warnings.push({ code: 'SLICE_GAP', message, files });
      }
    }
    if (uneven && !warnings.length) {
      warnings.push({
        code: 'UNEVEN_SPACING',
        message: `${where}: slice spacing varies from ${sorted[0]!.toFixed(3)} to ${sorted[sorted.length - 1]!.toFixed(3)} mm; per-slice positions are kept`,
        files: [],
      });
    }
  }

  const pixels = f0.rows * f0.columns;
  const voxels = new Float32Array(pixels * slices.length);
  const monochrome1: string[] = [];
  for (let k = 0; k < slices.length; k++) {
    const df = slices[k]!.df;
    const [frame] = await decodeFrames(df);
    const { slope, intercept } = rescaleOf(df.dataset);
    const target = voxels.subarray(k * pixels, (k + 1) * pixels);
    for (let i = 0; i < pixels; i++) target[i] = frame![i]! * slope + intercept;
    if (pixelFormat(df).photometric === 'MONOCHROME1') monochrome1.push(df.file);
  }
  if (monochrome1.length) {
    // Values stay in modality units; MONOCHROME1 only changes how a viewer shows them.
    warnings.push({
      code: 'MONOCHROME1',
      message: `${where}: MONOCHROME1 slices (display inverted; values kept as stored)`,
      files: monochrome1,
    });
  }
  const ds = first.dataset;
  const ps = ps0 ?? [1, 1];
  let frameOfReferenceUid = text(ds, 'FrameOfReferenceUID');
  if (!frameOfReferenceUid) {
    // Type 1 in every image IOD with a position, yet missing in the wild (rt-utils'
    // oriented_data). Writers need one to reference; derive a stable one from the series.
    frameOfReferenceUid = newUid(`frame-of-reference/${text(ds, 'SeriesInstanceUID')}`);
    warnings.push({
      code: 'NO_FRAME_OF_REFERENCE',
      message: `${where}: the slices have no FrameOfReferenceUID; RTSTRUCT/SEG written on this volume use the derived ${frameOfReferenceUid}`,
      files: [first.file],
    });
  }
  return {
    columns: f0.columns,
    rows: f0.rows,
    slices: slices.length,
    rowDirection,
    columnDirection,
    normal,
    pixelSpacing: [ps[0]!, ps[1]!],
    positions: slices.map((s) => s.position),
    voxels,
    modality: text(ds, 'Modality'),
    uids: {
      studyInstanceUid: text(ds, 'StudyInstanceUID'),
      seriesInstanceUid: text(ds, 'SeriesInstanceUID'),
      frameOfReferenceUid,
      sopClassUid: text(ds, 'SOPClassUID'),
      sopInstanceUids: slices.map((s) => text(s.df.dataset, 'SOPInstanceUID')),
    },
    patient: patientStudy(ds),
    files: slices.map((s) => s.df.file),
    source: 'dicom',
    warnings,
  };
}
