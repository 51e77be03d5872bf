/**
 * A synthetic CT phantom written as a real DICOM CT series: a body (soft tissue) with two
 * lungs and a tumour in the right lung, in Hounsfield units, on any grid and orientation.
 * It exists so volume tests have a CT study with a known tumour: the exact ground-truth
 * masks come back with the series.
 *
 * Shapes are defined in millimetres relative to the grid centre, in the image's own axes
 * (u along rows, v along columns, w along the normal), and sampled at voxel centres:
 *   body   ellipse  |u|/(0.45 W), |v|/(0.35 H), all slices
 *   lungs  ellipsoids centred at u = ±0.2 W, semi-axes 0.14 W, 0.22 H, 0.45 D
 *   tumour sphere of `tumourRadiusMm` inside the right lung (patient right = −u for an
 *          axial head-first-supine series), attenuation `hu.tumour`
 * Stored values are int16 with RescaleIntercept −1024, as scanners write them.
 */
import { P2SamError } from '../errors';
import { writeCtSeries } from './ct-series-write';
import { dicomDateTime, newUid, SOP_CLASS } from './dicom-file';
import { cross, emptyMask, normalize, type MaskVolume, type Vec3, type Volume } from './volume';

export interface PhantomOptions {
  columns?: number;
  rows?: number;
  slices?: number;
  /** [between rows, between columns] in mm (default [1, 1]). */
  pixelSpacing?: [number, number];
  /** Distance between slices along the normal, mm (default 2.5). */
  sliceSpacing?: number;
  /** ImageOrientationPatient (default axial [1,0,0, 0,1,0]). */
  orientation?: [number, number, number, number, number, number];
  /** Position of the grid centre in patient mm (default [0, 0, 0]). */
  centre?: Vec3;
  tumourRadiusMm?: number;
  hu?: { air?: number; body?: number; lung?: number; tumour?: number };
  /** Standard deviation of added Gaussian noise in HU (default 0: exact values). */
  noiseHu?: number;
  /** Seeds the UIDs and the noise, so a seed gives the same series every time. */
  seed?: string;
  patientName?: string;
  patientId?: string;
}

export interface Phantom {
  files: string[];
  volume: Volume;
  masks: { body: MaskVolume; lungs: MaskVolume; tumour: MaskVolume };
}

function positiveInt(name: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 1 || v > max)
    throw new P2SamError('INVALID_ARGUMENT', `options.${name}: expected an integer 1–${max}, received ${v}`);
  return v;
}

/**
 * Writes the phantom as `dir/slice-NNN.dcm` (CT Image Storage, explicit VR LE).
 *
 * @example
 *   const { files, volume, masks } = writePhantomSeries('/tmp/phantom', { slices: 24, seed: 'case-1' });
 *   // masks.tumour is the ground truth for a segmentation of volume
 */
export function writePhantomSeries(dir: string, options: PhantomOptions = {}): Phantom {
  const columns = positiveInt('columns', options.columns ?? 64, 4096);
  const rows = positiveInt('rows', options.rows ?? 64, 4096);
  const slices = positiveInt('slices', options.slices ?? 16, 2048);
  const [dr, dc] = options.pixelSpacing ?? [1, 1];
  const dz = options.sliceSpacing ?? 2.5;
  if (!(dr > 0 && dc > 0 && dz > 0))
    throw new P2SamError(
      'INVALID_ARGUMENT',
      `options.pixelSpacing/sliceSpacing: expected positive mm, received ${dr}, ${dc}, ${dz}`,
    );
  const iop = options.orientation ?? [1, 0, 0, 0, 1, 0];
  const rowDirection = normalize([iop[0], iop[1], iop[2]]);
  const columnDirection = normalize([iop[3], iop[4], iop[5]]);
  if (
    Math.abs(
      rowDirection[0] * columnDirection[0] +
        rowDirection[1] * columnDirection[1] +
        rowDirection[2] * columnDirection[2],
    ) > 1e-6
  ) {
    throw new P2SamError(
      'INVALID_ARGUMENT',
      `options.orientation: expected two perpendicular unit vectors, received ${iop.join(', ')}`,
    );
  }
  const normal = normalize(cross(rowDirection, columnDirection));
  const centre = options.centre ?? [0, 0, 0];
  const hu = { air: -1000, body: 40, lung: -850, tumour: 30, ...options.hu };
  const seed = options.seed ?? 'p2sam-phantom';
  const noise = options.noiseHu ?? 0;
  const W = columns * dc;
  const H = rows * dr;
  const D = slices * dz;
  const rTumour = options.tumourRadiusMm ?? Math.min(0.08 * W, 0.1 * H, 0.3 * D);

  // Grid centre → first voxel: positions[k] = centre − half extents + k · dz · normal.
  const u0 = -((columns - 1) / 2) * dc;
  const v0 = -((rows - 1) / 2) * dr;
  const w0 = -((slices - 1) / 2) * dz;
  const positions: Vec3[] = [];
  for (let k = 0; k < slices; k++) {
    const w = w0 + k * dz;
    positions.push(
      [0, 1, 2].map(
        (i) => centre[i]! + u0 * rowDirection[i]! + v0 * columnDirection[i]! + w * normal[i]!,
      ) as Vec3,
    );
  }
  const body = emptyMask({ columns, rows, slices });
  const lungs = emptyMask({ columns, rows, slices });
  const tumour = emptyMask({ columns, rows, slices });
  const voxels = new Float32Array(columns * rows * slices);
  let state = 0;
  for (const ch of seed) state = (state * 31 + ch.charCodeAt(0)) >>> 0;
  const uniform = () => {
    // mulberry32: small, seedable, good enough for image noise.
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const gauss = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  const tu = -0.2 * W;
  const tv = -0.05 * H;
  for (let k = 0; k < slices; k++) {
    const w = w0 + k * dz;
    for (let r = 0; r < rows; r++) {
      const v = v0 + r * dr;
      for (let c = 0; c < columns; c++) {
        const u = u0 + c * dc;
        const i = (k * rows + r) * columns + c;
        let value = hu.air;
        if ((u / (0.45 * W)) ** 2 + (v / (0.35 * H)) ** 2 <= 1) {
          body.data[i] = 1;
          value = hu.body;
          for (const cu of [-0.2 * W, 0.2 * W]) {
            if (((u - cu) / (0.14 * W)) ** 2 + (v / (0.22 * H)) ** 2 + (w / (0.45 * D)) ** 2 <= 1) {
              lungs.data[i] = 1;
              value = hu.lung;
            }
          }
          if ((u - tu) ** 2 + (v - tv) ** 2 + w ** 2 <= rTumour ** 2) {
            tumour.data[i] = 1;
            value = hu.tumour;
          }
        }
        voxels[i] = Math.round(value + (noise > 0 ? noise * gauss() : 0));
      }
    }
  }

  const uid = (what: string) => newUid(`${seed}/${what}`);
  const studyUid = uid('study');
  const seriesUid = uid('series');
  const forUid = uid('frame-of-reference');
  const sopUids = positions.map((_, k) => uid(`slice-${k}`));
  const { date, time } = dicomDateTime(new Date(Date.UTC(2024, 0, 1, 12, 0, 0)));
  const patient = {
    PatientName: options.patientName ?? 'Phantom^P2SAM',
    PatientID: options.patientId ?? `PH-${seed}`.slice(0, 64),
    PatientBirthDate: '',
    PatientSex: 'O',
    StudyInstanceUID: studyUid,
    StudyDate: date,
    StudyTime: time,
    StudyID: 'PHANTOM',
    AccessionNumber: '',
    ReferringPhysicianName: '',
    StudyDescription: 'P2SAM synthetic CT phantom',
  };
  const volume: Volume = {
    columns,
    rows,
    slices,
    rowDirection,
    columnDirection,
    normal,
    pixelSpacing: [dr, dc],
    positions,
    voxels,
    modality: 'CT',
    uids: {
      studyInstanceUid: studyUid,
      seriesInstanceUid: seriesUid,
      frameOfReferenceUid: forUid,
      sopClassUid: SOP_CLASS.ct,
      sopInstanceUids: sopUids,
    },
    patient,
    files: [],
    source: 'dicom',
    warnings: [],
  };
  const files = writeCtSeries(dir, volume, {
    seriesDescription: 'Synthetic CT phantom (body, lungs, tumour)',
    modelName: 'phantom',
    sliceThickness: dz,
  });
  volume.files = files;
  return { files, volume, masks: { body, lungs, tumour } };
}
