/**
 * NIfTI-1 (.nii, .nii.gz) volumes and labelmaps on the shared volume model.
 *
 * NIfTI's world is RAS+ (x to the patient's right→left is negative), DICOM's is LPS+, so
 * the affine's first two rows change sign on the way in and out. Geometry comes from the
 * sform when sform_code > 0, else the qform (quaternion + pixdim, qfac in pixdim[0]),
 * else pixdim alone (ANALYZE-style). Voxel (i, j, k) is column i, row j, slice k, the
 * layout of `Volume`. A NIfTI grid whose slice axis runs against the normal is reordered
 * so slices still grow along the normal. NIfTI can only hold evenly spaced slices:
 * writing a mask for a volume with uneven spacing is refused (NIFTI_UNSUPPORTED), since
 * any single affine would misplace some slices.
 */
import { writeFileAtomicSync } from '../io/atomic-file';
import { readFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { P2SamError } from '../errors';
import { newUid } from './dicom-file';
import {
  cross,
  dot,
  emptyMask,
  normalize,
  patientToPixel,
  requireMaskOnGrid,
  sliceAtOffset,
  sliceOffsets,
  spacingIrregularity,
  volumeAffine,
  type MaskVolume,
  type Vec3,
  type Volume,
  type VolumeGeometry,
} from './volume';

interface NiftiImage {
  dims: [number, number, number];
  /** Row-major 3×4 voxel → LPS mm. */
  affine: number[][];
  values: Float64Array;
  datatype: number;
}

const DATATYPES: Record<number, { bytes: number; read: (v: DataView, o: number, le: boolean) => number }> = {
  2: { bytes: 1, read: (v, o) => v.getUint8(o) },
  4: { bytes: 2, read: (v, o, le) => v.getInt16(o, le) },
  8: { bytes: 4, read: (v, o, le) => v.getInt32(o, le) },
  16: { bytes: 4, read: (v, o, le) => v.getFloat32(o, le) },
  64: { bytes: 8, read: (v, o, le) => v.getFloat64(o, le) },
  256: { bytes: 1, read: (v, o) => v.getInt8(o) },
  512: { bytes: 2, read: (v, o, le) => v.getUint16(o, le) },
  768: { bytes: 4, read: (v, o, le) => v.getUint32(o, le) },
};

function fail(code: 'NIFTI_READ_FAILED' | 'NIFTI_UNSUPPORTED', file: string, why: string): never {
  throw new P2SamError(
    code,
    `${file}: ${code === 'NIFTI_READ_FAILED' ? 'not a readable NIfTI-1 file' : 'unsupported NIfTI'}: ${why}`,
  );
}

function readImage(file: string): NiftiImage {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    fail(
      'NIFTI_READ_FAILED',
      file,
      (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message,
    );
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (err) {
      fail('NIFTI_READ_FAILED', file, `gzip stream is damaged: ${(err as Error).message}`);
    }
  }
  if (bytes.length < 348)
    fail('NIFTI_READ_FAILED', file, `${bytes.length} bytes, a NIfTI-1 header alone is 348`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = view.getInt32(0, true) === 348;
  if (!le && view.getInt32(0, false) !== 348)
    fail('NIFTI_READ_FAILED', file, 'sizeof_hdr is not 348 (NIfTI-2 is not supported)');
  const magic = bytes.toString('latin1', 344, 347);
  if (magic !== 'n+1')
    fail('NIFTI_UNSUPPORTED', file, `magic "${magic}": only single-file NIfTI-1 (n+1) is read`);
  const dim = Array.from({ length: 8 }, (_, i) => view.getInt16(40 + 2 * i, le));
  const ndim = dim[0]!;
  if (ndim < 2 || ndim > 7) fail('NIFTI_READ_FAILED', file, `dim[0] = ${ndim}`);
  for (let i = 4; i <= ndim; i++)
    if (dim[i]! > 1)
      fail('NIFTI_UNSUPPORTED', file, `${ndim}-D image with dim[${i}] = ${dim[i]}: expected one 3-D volume`);
  const dims: [number, number, number] = [dim[1]!, dim[2]!, ndim >= 3 ? dim[3]! : 1];
  if (dims.some((d) => d < 1)) fail('NIFTI_READ_FAILED', file, `dimensions ${dims.join('×')}`);
  const datatype = view.getInt16(70, le);
  const type = DATATYPES[datatype];
  if (!type)
    fail('NIFTI_UNSUPPORTED', file, `datatype ${datatype} (expected an integer or float scalar type)`);
  const pixdim = Array.from({ length: 8 }, (_, i) => view.getFloat32(76 + 4 * i, le));
  const voxOffset = Math.floor(view.getFloat32(108, le));
  let slope = view.getFloat32(112, le);
  const inter = view.getFloat32(116, le);
  if (!Number.isFinite(slope) || slope === 0) slope = 1;
  const qformCode = view.getInt16(252, le);
  const sformCode = view.getInt16(254, le);
  let ras: number[][];
  if (sformCode > 0) {
    ras = [0, 1, 2].map((r) => [0, 1, 2, 3].map((c) => view.getFloat32(280 + 16 * r + 4 * c, le)));
  } else if (qformCode > 0) {
    const b = view.getFloat32(256, le);
    const c = view.getFloat32(260, le);
    const d = view.getFloat32(264, le);
    const a = Math.sqrt(Math.max(0, 1 - b * b - c * c - d * d));
    const qfac = pixdim[0]! < 0 ? -1 : 1;
    const R = [
      [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
      [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
      [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
    ];
    const s = [pixdim[1]!, pixdim[2]!, pixdim[3]! * qfac];
    const off = [view.getFloat32(268, le), view.getFloat32(272, le), view.getFloat32(276, le)];
    ras = [0, 1, 2].map((r) => [R[r]![0]! * s[0]!, R[r]![1]! * s[1]!, R[r]![2]! * s[2]!, off[r]!]);
  } else {
    ras = [
      [pixdim[1]! || 1, 0, 0, 0],
      [0, pixdim[2]! || 1, 0, 0],
      [0, 0, pixdim[3]! || 1, 0],
    ];
  }
  const affine = [ras[0]!.map((v) => -v), ras[1]!.map((v) => -v), ras[2]!.slice()];
  const count = dims[0] * dims[1] * dims[2];
  if (voxOffset + count * type.bytes > bytes.length) {
    fail(
      'NIFTI_READ_FAILED',
      file,
      `truncated: ${dims.join('×')} voxels of ${type.bytes} bytes from offset ${voxOffset} need ${voxOffset + count * type.bytes} bytes, the file has ${bytes.length}`,
    );
  }
  const values = new Float64Array(count);
  if (datatype === 2) {
    // uint8 labelmaps, the common case: no DataView call per voxel.
    for (let i = 0; i < count; i++) values[i] = bytes[voxOffset + i]! * slope + inter;
  } else {
    for (let i = 0; i < count; i++)
      values[i] = type.read(view, voxOffset + i * type.bytes, le) * slope + inter;
  }
  return { dims, affine, values, datatype };
}

function column(a: number[][], c: number): Vec3 {
  return [a[0]![c]!, a[1]![c]!, a[2]![c]!];
}

/** Geometry of a NIfTI grid, with the slice order (reversed when k runs against the normal). */
function niftiGeometry(file: string, img: NiftiImage): { g: VolumeGeometry; reversed: boolean } {
  const ci = column(img.affine, 0);
  const cj = column(img.affine, 1);
  const ck = column(img.affine, 2);
  const dc = Math.hypot(...ci);
  const dr = Math.hypot(...cj);
  if (!(dc > 0 && dr > 0)) fail('NIFTI_READ_FAILED', file, 'degenerate affine (zero voxel size)');
  const rowDirection = normalize(ci);
  const columnDirection = normalize(cj);
  if (Math.abs(dot(rowDirection, columnDirection)) > 1e-4)
    fail('NIFTI_UNSUPPORTED', file, 'sheared affine: the i and j axes are not perpendicular');
  const normal = normalize(cross(rowDirection, columnDirection));
  const along = dot(ck, normal);
  const lateral = Math.hypot(ck[0] - along * normal[0], ck[1] - along * normal[1], ck[2] - along * normal[2]);
  if (img.dims[2] > 1 && lateral > 1e-3 * Math.abs(along) + 1e-4)
    fail('NIFTI_UNSUPPORTED', file, 'sheared affine: the k axis is not along the slice normal (gantry tilt)');
  const reversed = img.dims[2] > 1 && along < 0;
  const positions: Vec3[] = [];
  for (let n = 0; n < img.dims[2]; n++) {
    const k = reversed ? img.dims[2] - 1 - n : n;
    positions.push([
      img.affine[0]![3]! + k * ck[0],
      img.affine[1]![3]! + k * ck[1],
      img.affine[2]![3]! + k * ck[2],
    ]);
  }
  return {
    g: {
      columns: img.dims[0],
      rows: img.dims[1],
      slices: img.dims[2],
      rowDirection,
      columnDirection,
      normal,
      pixelSpacing: [dr, dc],
      positions,
    },
    reversed,
  };
}

/**
 * Reads a NIfTI-1 image as a Volume (values after scl_slope/scl_inter).
 *
 * @example
 *   const ct = readNifti('ct.nii.gz');
 *   console.log(ct.columns, ct.rows, ct.slices, ct.positions[0]);
 */
export function readNifti(file: string): Volume {
  const img = readImage(file);
  const { g, reversed } = niftiGeometry(file, img);
  const plane = g.columns * g.rows;
  const voxels = new Float32Array(img.values.length);
  for (let n = 0; n < g.slices; n++) {
    const k = reversed ? g.slices - 1 - n : n;
    voxels.set(img.values.subarray(k * plane, (k + 1) * plane), n * plane);
  }
  return {
    ...g,
    voxels,
    modality: 'OT',
    uids: {
      studyInstanceUid: newUid(),
      seriesInstanceUid: newUid(),
      frameOfReferenceUid: newUid(),
      sopClassUid: '',
      sopInstanceUids: g.positions.map(() => newUid()),
    },
    patient: {
      PatientName: '',
      PatientID: '',
      PatientBirthDate: '',
      PatientSex: '',
      StudyInstanceUID: '',
      StudyDate: '',
      StudyTime: '',
      StudyID: '',
      AccessionNumber: '',
      ReferringPhysicianName: '',
    },
    files: [file],
    source: 'nifti',
    warnings: [],
  };
}

/**
 * Reads one label of a NIfTI labelmap as a mask on `volume`'s grid. The labelmap may
 * index the same voxels in another order (flipped or swapped axes, reversed slices); any
 * other grid is MASK_GEOMETRY_MISMATCH. Without `label`, every non-zero voxel is inside.
 *
 * @example
 *   const gtv = readNiftiLabelmap('labels.nii.gz', ct, { label: 2 });
 */
export function readNiftiLabelmap(
  file: string,
  volume: VolumeGeometry,
  options: { label?: number } = {},
): MaskVolume {
  const img = readImage(file);
  const mask = emptyMask(volume);
  const offsets = sliceOffsets(volume);
  const ci = column(img.affine, 0);
  const cj = column(img.affine, 1);
  const ck = column(img.affine, 2);
  const [ni, nj, nk] = img.dims;
  if (ni * nj !== volume.columns * volume.rows || nk !== volume.slices) {
    throw new P2SamError(
      'MASK_GEOMETRY_MISMATCH',
      `${file}: labelmap is ${ni}×${nj}×${nk} voxels, the reference volume ${volume.columns}×${volume.rows}×${volume.slices}`,
    );
  }
  let found = false;
  const labels = new Set<number>();
  let lastLabel = 0;
  const tol = 1e-3;
  for (let k = 0; k < nk; k++) {
    const origin: Vec3 = [
      img.affine[0]![3]! + k * ck[0],
      img.affine[1]![3]! + k * ck[1],
      img.affine[2]![3]! + k * ck[2],
    ];
    const slice = sliceAtOffset(volume, dot(origin, volume.normal), offsets);
    const offPlane = slice < 0 ? Infinity : Math.abs(dot(origin, volume.normal) - offsets[slice]!);
    if (slice < 0 || offPlane > 0.01 * Math.min(...volume.pixelSpacing) + 1e-3) {
      throw new P2SamError(
        'MASK_GEOMETRY_MISMATCH',
        `${file}: labelmap slice ${k} lies at ${dot(origin, volume.normal).toFixed(3)} mm along the normal, no reference slice is there`,
      );
    }
    // Where voxel (0,0,k), one step in i and one in j land in the reference slice's pixels.
    const p0 = patientToPixel(volume, origin, slice);
    const pi = patientToPixel(volume, [origin[0] + ci[0], origin[1] + ci[1], origin[2] + ci[2]], slice);
    const pj = patientToPixel(volume, [origin[0] + cj[0], origin[1] + cj[1], origin[2] + cj[2]], slice);
    const si = [pi[0] - p0[0], pi[1] - p0[1]];
    const sj = [pj[0] - p0[0], pj[1] - p0[1]];
    const ints = [p0[0], p0[1], ...si, ...sj];
    const [c0, r0, ic, ir, jc, jr] = ints.map((v) => Math.round(v)) as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    if (
      ints.some((v) => Math.abs(v - Math.round(v)) > tol) ||
      Math.abs(ic * jr - ir * jc) !== 1 ||
      Math.abs(ic) + Math.abs(ir) !== 1
    ) {
      throw new P2SamError(
        'MASK_GEOMETRY_MISMATCH',
        `${file}: labelmap voxels do not fall on the reference volume's voxels (in-plane axes or spacing differ)`,
      );
    }
    const base = slice * volume.columns * volume.rows;
    for (let j = 0; j < nj; j++) {
      for (let i = 0; i < ni; i++) {
        const v = img.values[(k * nj + j) * ni + i]!;
        if (v !== 0 && v !== lastLabel) {
          labels.add(v);
          lastLabel = v;
        }
        const inside = options.label === undefined ? v !== 0 : v === options.label;
        if (!inside) continue;
        const c = c0 + i * ic + j * jc;
        const r = r0 + i * ir + j * jr;
        if (c < 0 || r < 0 || c >= volume.columns || r >= volume.rows) {
          throw new P2SamError(
            'MASK_GEOMETRY_MISMATCH',
            `${file}: labelmap voxel (${i}, ${j}, ${k}) falls outside the reference volume`,
          );
        }
        mask.data[base + r * volume.columns + c] = 1;
        found = true;
      }
    }
  }
  if (options.label !== undefined && !found) {
    throw new P2SamError(
      'NIFTI_LABEL_NOT_FOUND',
      `${file}: no voxel has label ${options.label}; labels present: ${[...labels].sort((a, b) => a - b).join(', ') || 'none (all zero)'}`,
    );
  }
  return mask;
}

/**
 * Writes a mask as a NIfTI-1 uint8 labelmap with the volume's affine (sform and qform,
 * NIFTI_XFORM_SCANNER_ANAT), gzip-compressed when the name ends in .gz. Voxels inside
 * the mask get `label` (default 1).
 *
 * @example
 *   writeNifti('gtv.nii.gz', mask, ct);
 */
export function writeNifti(
  file: string,
  mask: MaskVolume,
  volume: VolumeGeometry,
  options: { label?: number } = {},
): void {
  requireMaskOnGrid(mask, volume, `writeNifti(${file})`);
  const label = options.label ?? 1;
  if (!Number.isInteger(label) || label < 1 || label > 255) {
    throw new P2SamError('INVALID_ARGUMENT', `options.label: expected an integer 1–255, received ${label}`);
  }
  const irregular = spacingIrregularity(volume);
  if (irregular > 0.01) {
    throw new P2SamError(
      'NIFTI_UNSUPPORTED',
      `${file}: the volume's slices are unevenly spaced (up to ${irregular.toFixed(3)} mm off an even grid); a NIfTI affine cannot place them — write RTSTRUCT or SEG instead`,
    );
  }
  const lps = volumeAffine(volume);
  const ras = [lps[0]!.map((v) => -v), lps[1]!.map((v) => -v), lps[2]!];
  const header = Buffer.alloc(352);
  const v = new DataView(header.buffer, header.byteOffset, header.byteLength);
  v.setInt32(0, 348, true);
  header.writeUInt8('r'.charCodeAt(0), 38); // "regular"
  const dims = [3, volume.columns, volume.rows, volume.slices, 1, 1, 1, 1];
  dims.forEach((d, i) => {
    v.setInt16(40 + 2 * i, d, true);
  });
  v.setInt16(70, 2, true); // DT_UINT8
  v.setInt16(72, 8, true); // bitpix
  const dk = Math.hypot(column(lps, 2)[0], column(lps, 2)[1], column(lps, 2)[2]);
  // qform: rotation of the unit axes; qfac = −1 when i, j, k form a left-handed triad.
  const ax = [0, 1, 2].map((c) => normalize(column(ras, c)));
  let det =
    ax[0]![0] * (ax[1]![1] * ax[2]![2] - ax[1]![2] * ax[2]![1]) -
    ax[1]![0] * (ax[0]![1] * ax[2]![2] - ax[0]![2] * ax[2]![1]) +
    ax[2]![0] * (ax[0]![1] * ax[1]![2] - ax[0]![2] * ax[1]![1]);
  const qfac = det < 0 ? -1 : 1;
  if (qfac < 0) ax[2] = [-ax[2]![0], -ax[2]![1], -ax[2]![2]];
  det = 1;
  const [pixdimRow, pixdimCol] = volume.pixelSpacing;
  [qfac, pixdimCol, pixdimRow, dk || 1, 1, 1, 1, 1].forEach((p, i) => {
    v.setFloat32(76 + 4 * i, p, true);
  });
  v.setFloat32(108, 352, true); // vox_offset
  v.setFloat32(112, 1, true); // scl_slope
  v.setFloat32(116, 0, true);
  header.writeUInt8(2, 123); // xyzt_units: mm
  v.setFloat32(124, label, true); // cal_max
  header.write('p2sam-native labelmap', 148, 'latin1');
  v.setInt16(252, 1, true); // qform_code: scanner
  v.setInt16(254, 1, true); // sform_code: scanner
  // Rotation matrix → quaternion (b, c, d); a ≥ 0 by convention.
  const R = [0, 1, 2].map((r) => [ax[0]![r]!, ax[1]![r]!, ax[2]![r]!]);
  const trace = R[0]![0]! + R[1]![1]! + R[2]![2]!;
  let a: number, b: number, c: number, d: number;
  if (trace > 0) {
    const s = 0.5 / Math.sqrt(trace + 1);
    a = 0.25 / s;
    b = (R[2]![1]! - R[1]![2]!) * s;
    c = (R[0]![2]! - R[2]![0]!) * s;
    d = (R[1]![0]! - R[0]![1]!) * s;
  } else if (R[0]![0]! > R[1]![1]! && R[0]![0]! > R[2]![2]!) {
    const s = 2 * Math.sqrt(1 + R[0]![0]! - R[1]![1]! - R[2]![2]!);
    a = (R[2]![1]! - R[1]![2]!) / s;
    b = 0.25 * s;
    c = (R[0]![1]! + R[1]![0]!) / s;
    d = (R[0]![2]! + R[2]![0]!) / s;
  } else if (R[1]![1]! > R[2]![2]!) {
    const s = 2 * Math.sqrt(1 + R[1]![1]! - R[0]![0]! - R[2]![2]!);
    a = (R[0]![2]! - R[2]![0]!) / s;
    b = (R[0]![1]! + R[1]![0]!) / s;
    c = 0.25 * s;
    d = (R[1]![2]! + R[2]![1]!) / s;
  } else {
    const s = 2 * Math.sqrt(1 + R[2]![2]! - R[0]![0]! - R[1]![1]!);
    a = (R[1]![0]! - R[0]![1]!) / s;
    b = (R[0]![2]! + R[2]![0]!) / s;
    c = (R[1]![2]! + R[2]![1]!) / s;
    d = 0.25 * s;
  }
  if (a < 0) [b, c, d] = [-b, -c, -d];
  v.setFloat32(256, b, true);
  v.setFloat32(260, c, true);
  v.setFloat32(264, d, true);
  v.setFloat32(268, ras[0]![3]!, true);
  v.setFloat32(272, ras[1]![3]!, true);
  v.setFloat32(276, ras[2]![3]!, true);
  for (let r = 0; r < 3; r++)
    for (let col = 0; col < 4; col++) v.setFloat32(280 + 16 * r + 4 * col, ras[r]![col]!, true);
  header.write('n+1\0', 344, 'latin1');
  const data = Buffer.alloc(mask.data.length);
  for (let i = 0; i < data.length; i++) data[i] = mask.data[i] ? label : 0;
  let bytes = Buffer.concat([header, data]);
  if (file.endsWith('.gz')) bytes = gzipSync(bytes);
  // Temporary name opened no-follow, then renamed: never a half-written file or a write through a link.
  try {
    writeFileAtomicSync(file, bytes);
  } catch (err) {
    throw new P2SamError(
      'OUTPUT_PATH_REFUSED',
      `${file}: could not write the NIfTI file: ${(err as Error).message}`,
      { cause: err },
    );
  }
}
