/**
 * The volume model shared by every clinical reader and writer.
 *
 * Geometry follows DICOM's patient coordinate system (LPS, millimetres): voxel (c, r, k)
 * — column, row, slice — sits at
 *
 *     P = position[k] + c · columnSpacing · rowDirection + r · rowSpacing · columnDirection
 *
 * where rowDirection / columnDirection are the two triplets of ImageOrientationPatient
 * (rowDirection points along a row, i.e. the way the column index grows) and
 * `pixelSpacing = [rowSpacing, columnSpacing]` is PixelSpacing in DICOM's order (the
 * distance between rows first). Each slice keeps its own ImagePositionPatient, so uneven
 * spacing is represented exactly; slices are ordered by increasing position along the
 * normal (rowDirection × columnDirection), never by file name or InstanceNumber.
 *
 * Voxel and mask arrays are laid out column-fastest: `index = (k · rows + r) · columns + c`,
 * which is also the order of DICOM frames and of NIfTI's (i, j, k) with i = column.
 */
import { P2SamError } from '../errors';

export type Vec3 = [number, number, number];

export interface VolumeGeometry {
  /** Number of columns (image width), rows (height) and slices. */
  columns: number;
  rows: number;
  slices: number;
  /** ImageOrientationPatient's first triplet: direction of increasing column index. */
  rowDirection: Vec3;
  /** ImageOrientationPatient's second triplet: direction of increasing row index. */
  columnDirection: Vec3;
  /** rowDirection × columnDirection; slices are sorted along it. */
  normal: Vec3;
  /** PixelSpacing in DICOM order: [spacing between rows, spacing between columns] in mm. */
  pixelSpacing: [number, number];
  /** ImagePositionPatient of each slice (centre of its first voxel), in slice order. */
  positions: Vec3[];
}

/** The attributes a writer copies so its output lands in the same patient and study. */
export interface PatientStudy {
  PatientName: string;
  PatientID: string;
  PatientBirthDate: string;
  PatientSex: string;
  StudyInstanceUID: string;
  StudyDate: string;
  StudyTime: string;
  StudyID: string;
  AccessionNumber: string;
  ReferringPhysicianName: string;
  StudyDescription?: string;
}

export interface VolumeUids {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  frameOfReferenceUid: string;
  /** SOPClassUID of the slices (CT Image Storage, MR Image Storage, …). */
  sopClassUid: string;
  /** SOPInstanceUID of each slice, in slice order. */
  sopInstanceUids: string[];
}

export interface Volume extends VolumeGeometry {
  /**
   * Voxel values in modality units: RescaleSlope · stored + RescaleIntercept, i.e.
   * Hounsfield units for CT. Float32 because slopes need not be integers.
   */
  voxels: Float32Array;
  modality: string;
  uids: VolumeUids;
  patient: PatientStudy;
  /** Source file of each slice, in slice order (empty for volumes not read from DICOM). */
  files: string[];
  /** Where the volume came from: 'dicom' or 'nifti'. */
  source: 'dicom' | 'nifti' | 'synthetic';
  /**
   * What the reader flagged but kept (e.g. a gap of missing slices: positions stay exact
   * per slice, so the volume is usable, but a caller may want to refuse it).
   */
  warnings: VolumeWarning[];
}

export interface VolumeWarning {
  code: 'SLICE_GAP' | 'UNEVEN_SPACING' | 'MONOCHROME1' | 'NO_FRAME_OF_REFERENCE';
  message: string;
  /** The files the warning is about. */
  files: string[];
}

/** A binary mask on a volume's grid: one byte per voxel (0 or 1), the volume's layout. */
export interface MaskVolume {
  columns: number;
  rows: number;
  slices: number;
  data: Uint8Array;
}

export function cross(a: Vec3, b: Vec3): Vec3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

export function dot(a: readonly number[], b: readonly number[]): number {
  return a[0]! * b[0]! + a[1]! * b[1]! + a[2]! * b[2]!;
}

export function normalize(a: Vec3): Vec3 {
  const n = Math.hypot(a[0], a[1], a[2]);
  return [a[0] / n, a[1] / n, a[2] / n];
}

/** Position of each slice along the normal (mm), in slice order. */
export function sliceOffsets(g: VolumeGeometry): number[] {
  return g.positions.map((p) => dot(p, g.normal));
}

/** Patient coordinates (mm, LPS) of a voxel centre, or of a fractional (c, r) on slice k. */
export function voxelToPatient(g: VolumeGeometry, c: number, r: number, k: number): Vec3 {
  const p = g.positions[k]!;
  const [dr, dc] = g.pixelSpacing;
  return [
    p[0] + c * dc * g.rowDirection[0] + r * dr * g.columnDirection[0],
    p[1] + c * dc * g.rowDirection[1] + r * dr * g.columnDirection[1],
    p[2] + c * dc * g.rowDirection[2] + r * dr * g.columnDirection[2],
  ];
}

/** Fractional (column, row) of a patient point projected onto slice k's plane. */
export function patientToPixel(g: VolumeGeometry, p: readonly number[], k: number): [number, number] {
  const o = g.positions[k]!;
  const d = [p[0]! - o[0], p[1]! - o[1], p[2]! - o[2]];
  return [dot(d, g.rowDirection) / g.pixelSpacing[1], dot(d, g.columnDirection) / g.pixelSpacing[0]];
}

/**
 * The slice a plane at `offset` along the normal belongs to, or -1 when no slice is
 * within half the local slice gap (or 0.5 mm for a single slice).
 */
export function sliceAtOffset(g: VolumeGeometry, offset: number, offsets = sliceOffsets(g)): number {
  let best = -1;
  let bestDist = Infinity;
  for (let k = 0; k < offsets.length; k++) {
    const d = Math.abs(offsets[k]! - offset);
    if (d < bestDist) {
      bestDist = d;
      best = k;
    }
  }
  if (best < 0) return -1;
  const gaps: number[] = [];
  if (best > 0) gaps.push(offsets[best]! - offsets[best - 1]!);
  if (best < offsets.length - 1) gaps.push(offsets[best + 1]! - offsets[best]!);
  const tolerance = gaps.length ? Math.min(...gaps) / 2 : 0.5;
  return bestDist <= tolerance ? best : -1;
}

/** An all-zero mask on the volume's grid. */
export function emptyMask(g: Pick<VolumeGeometry, 'columns' | 'rows' | 'slices'>): MaskVolume {
  return {
    columns: g.columns,
    rows: g.rows,
    slices: g.slices,
    data: new Uint8Array(g.columns * g.rows * g.slices),
  };
}

/** Throws MASK_SIZE_MISMATCH when the mask is not on the volume's grid. */
export function requireMaskOnGrid(mask: MaskVolume, g: VolumeGeometry, what: string): void {
  if (
    mask.columns !== g.columns ||
    mask.rows !== g.rows ||
    mask.slices !== g.slices ||
    mask.data.length !== g.columns * g.rows * g.slices
  ) {
    throw new P2SamError(
      'MASK_SIZE_MISMATCH',
      `${what}: expected a mask of ${g.columns}×${g.rows}×${g.slices} voxels (columns×rows×slices) to match the volume, received ${mask.columns}×${mask.rows}×${mask.slices} with ${mask.data.length} bytes`,
    );
  }
}

/**
 * Row-major 4×4 affine from voxel (c, r, k) to patient LPS mm. Exact only when the slices
 * are evenly spaced along the normal (the k column is the mean step between first and last).
 */
export function volumeAffine(g: VolumeGeometry): number[][] {
  const [dr, dc] = g.pixelSpacing;
  const first = g.positions[0]!;
  const last = g.positions[g.positions.length - 1]!;
  const n = g.slices > 1 ? g.slices - 1 : 1;
  const step =
    g.slices > 1
      ? [(last[0] - first[0]) / n, (last[1] - first[1]) / n, (last[2] - first[2]) / n]
      : [g.normal[0], g.normal[1], g.normal[2]];
  return [
    [g.rowDirection[0] * dc, g.columnDirection[0] * dr, step[0]!, first[0]],
    [g.rowDirection[1] * dc, g.columnDirection[1] * dr, step[1]!, first[1]],
    [g.rowDirection[2] * dc, g.columnDirection[2] * dr, step[2]!, first[2]],
    [0, 0, 0, 1],
  ];
}

/** Largest deviation (mm) of the slice positions from an even grid along the first–last line. */
export function spacingIrregularity(g: VolumeGeometry): number {
  if (g.slices < 3) return 0;
  const a = volumeAffine(g);
  let worst = 0;
  for (let k = 0; k < g.slices; k++) {
    const p = g.positions[k]!;
    for (let i = 0; i < 3; i++) worst = Math.max(worst, Math.abs(a[i]![3]! + a[i]![2]! * k - p[i]!));
  }
  return worst;
}
