/**
 * Two-visit synthetic CT studies of one patient, with a known answer: the test bed of the
 * volume pipeline (tests, `p2sam demo --volume`, the benchmark).
 *
 * The anatomy is defined once, in a *patient* frame (LPS millimetres: +x patient left,
 * +y posterior, +z superior): an elliptical body whose width changes along z, two lungs
 * (ellipsoids cut by a diaphragm dome), a heart that dents the left lung, and a tumour of
 * two lobes (a main mass and a satellite) inside the right lung. Each visit is a scan of
 * that patient on its own table: its voxel centres are patient coordinates plus the
 * visit's table shift, its own pixel spacing, slice spacing and slice count, and — unless
 * told otherwise — its own FrameOfReferenceUID, as two scans on different days have.
 * The tumour of the second visit has moved, changed size and turned (the shape a
 * treatment response gives), so a method that copied the reference contour would fail.
 *
 * Hounsfield values (with deterministic noise): air −1000, lung −850, soft tissue +40,
 * heart +45, tumour +180 (an enhancing solid mass). Why +180: the testkit encoder sees
 * only the mean colour of each 16×16 patch (docs/testkit.md), so the tumour must differ
 * from soft tissue in grey level after windowing. In a mediastinal window (L40/W400) the
 * tumour is ≈ 90 grey levels above soft tissue; in a lung window (L−600/W1500) both sit
 * near white (≈ 18 levels apart) and the testkit cannot tell them apart — a real SAM
 * encoder would use shape and texture there (docs/volume.md).
 */
import { mulberry32 } from '../testkit/prng';
import { newUid } from '../clinical/dicom-file';
import type { MaskVolume, PatientStudy, Vec3, Volume } from '../clinical/volume';

export const PHANTOM_HU = { air: -1000, lung: -850, softTissue: 40, heart: 45, tumour: 180 } as const;

/** The window (HU) in which the phantom's tumour is separable for the testkit encoder. */
export const PHANTOM_WINDOW: [number, number] = [-160, 240];

/** An ellipsoid turned by `angleDeg` about the z axis. */
export interface Lobe {
  centre: Vec3;
  radii: Vec3;
  angleDeg: number;
}

export interface VisitSpec {
  /** Added to patient coordinates to get this scan's coordinates (the table position). */
  tableShift: Vec3;
  /** In-plane size (columns = rows). */
  size: number;
  /** Pixel spacing (mm), same along rows and columns. */
  pixelMm: number;
  sliceMm: number;
  slices: number;
  /** Patient z (mm) of the first (most inferior) slice. */
  firstZ: number;
  tumour: Lobe[];
  seriesDescription: string;
  studyDate: string;
}

export interface PhantomVisit {
  volume: Volume;
  /** Ground truth: voxels whose centre lies inside a tumour lobe. */
  truth: MaskVolume;
  spec: VisitSpec;
}

export interface PhantomStudy {
  patientId: string;
  reference: PhantomVisit;
  target: PhantomVisit;
  /**
   * The true z offset: target scanner z − reference scanner z of the same anatomy (mm),
   * along the shared +z normal. Equals targetShift.z − referenceShift.z.
   */
  zOffsetMm: number;
  sharedFrameOfReference: boolean;
}

export interface PhantomStudyOptions {
  /** Seed of the noise and of the UIDs (default 1). */
  seed?: number;
  /** In-plane size of both visits (default 512). */
  size?: number;
  /** Reference visit slices (default 40, 3 mm). */
  referenceSlices?: number;
  referenceSliceMm?: number;
  /** Target visit slices (default 48, 2.5 mm). */
  targetSlices?: number;
  targetSliceMm?: number;
  /** Target table shift along z relative to the reference (default 41.3 mm). */
  zShiftMm?: number;
  /** Give both visits one FrameOfReferenceUID, as a registered pair would have, and so no table shift (default false). */
  sharedFrameOfReference?: boolean;
  /** Standard deviation of the voxel noise in HU (default 12). */
  noiseHu?: number;
  /** Patient z of the reference's first slice; the target covers the same anatomy ± a few cm (default −60). */
  firstZ?: number;
}

function insideLobe(l: Lobe, x: number, y: number, z: number): boolean {
  const a = (l.angleDeg * Math.PI) / 180;
  const dx = x - l.centre[0];
  const dy = y - l.centre[1];
  const u = (dx * Math.cos(a) + dy * Math.sin(a)) / l.radii[0];
  const v = (-dx * Math.sin(a) + dy * Math.cos(a)) / l.radii[1];
  const w = (z - l.centre[2]) / l.radii[2];
  return u * u + v * v + w * w <= 1;
}

/** Body semi-axes (mm) at patient z: the chest widens towards the shoulders. */
function bodyAxes(z: number): [number, number] {
  return [165 + 0.12 * z + 8 * Math.sin(z / 45), 115 + 0.05 * z];
}

/** Half-widths of a lung at z, or undefined where there is none (apex +115, dome base). */
function lungAt(side: -1 | 1, x: number, y: number, z: number): boolean {
  const cx = side * 78;
  const cz = 0;
  const rz = 115;
  const w = (z - cz) / rz;
  if (w >= 1) return false;
  // The diaphragm dome: each lung ends higher at its centre than at its rim.
  const rx = 58;
  const ry = 82;
  const u = (x - cx) / rx;
  const v = (y - 5) / ry;
  const r2 = u * u + v * v;
  const dome = -95 + 45 * (1 - r2);
  if (z < dome) return false;
  return r2 <= 1 - Math.max(0, w) * Math.max(0, w) * 0.9 - (w < 0 ? 0.15 * w * w : 0);
}

function inHeart(x: number, y: number, z: number): boolean {
  const u = (x - 30) / 55;
  const v = (y + 20) / 48;
  const w = (z + 55) / 50;
  return u * u + v * v + w * w <= 1;
}

/** Gaussian-like noise from the sum of three uniforms (deterministic, cheap). */
function noiseSource(seed: number): () => number {
  const r = mulberry32(seed);
  return () => (r() + r() + r() - 1.5) * 2; // variance 1
}

function patient(id: string): PatientStudy {
  return {
    PatientName: 'PHANTOM^VOLUME',
    PatientID: id,
    PatientBirthDate: '19600101',
    PatientSex: 'O',
    StudyInstanceUID: '',
    StudyDate: '',
    StudyTime: '120000',
    StudyID: '1',
    AccessionNumber: '',
    ReferringPhysicianName: '',
    StudyDescription: 'P2SAM two-visit phantom',
  };
}

/** Renders one visit: HU voxels and the tumour mask on the visit's own grid. */
export function renderVisit(
  spec: VisitSpec,
  uidSeed: string,
  patientId: string,
  frameOfReferenceUid: string,
  noiseHu: number,
  seed: number,
): PhantomVisit {
  const n = spec.size;
  const plane = n * n;
  const voxels = new Float32Array(plane * spec.slices);
  const truth = new Uint8Array(plane * spec.slices);
  const noise = noiseSource(seed);
  const half = ((n - 1) * spec.pixelMm) / 2;
  const positions: Vec3[] = [];
  for (let k = 0; k < spec.slices; k++) {
    const zp = spec.firstZ + k * spec.sliceMm; // patient z of this slice
    positions.push([-half + spec.tableShift[0], -half + spec.tableShift[1], zp + spec.tableShift[2]]);
    const [ba, bb] = bodyAxes(zp);
    for (let r = 0; r < n; r++) {
      const yp = -half + r * spec.pixelMm; // patient y (scanner y − shift)
      for (let c = 0; c < n; c++) {
        const xp = -half + c * spec.pixelMm;
        const i = k * plane + r * n + c;
        let hu: number;
        let sd = noiseHu;
        const bu = xp / ba;
        const bv = yp / bb;
        if (bu * bu + bv * bv > 1) {
          hu = PHANTOM_HU.air;
          sd = noiseHu * 0.3;
        } else if (spec.tumour.some((l) => insideLobe(l, xp, yp, zp))) {
          hu = PHANTOM_HU.tumour;
          truth[i] = 1;
        } else if (inHeart(xp, yp, zp)) {
          hu = PHANTOM_HU.heart;
        } else if (lungAt(-1, xp, yp, zp) || lungAt(1, xp, yp, zp)) {
          hu = PHANTOM_HU.lung;
          sd = noiseHu * 2;
        } else {
          hu = PHANTOM_HU.softTissue;
        }
        voxels[i] = Math.round(hu + sd * noise());
      }
    }
  }
  const study = patient(patientId);
  const volume: Volume = {
    columns: n,
    rows: n,
    slices: spec.slices,
    rowDirection: [1, 0, 0],
    columnDirection: [0, 1, 0],
    normal: [0, 0, 1],
    pixelSpacing: [spec.pixelMm, spec.pixelMm],
    positions,
    voxels,
    modality: 'CT',
    uids: {
      studyInstanceUid: newUid(`${uidSeed}/study`),
      seriesInstanceUid: newUid(`${uidSeed}/series`),
      frameOfReferenceUid,
      sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
      sopInstanceUids: positions.map((_, k) => newUid(`${uidSeed}/slice/${k}`)),
    },
    patient: {
      ...study,
      StudyInstanceUID: newUid(`${uidSeed}/study`),
      StudyDate: spec.studyDate,
      StudyDescription: spec.seriesDescription,
    },
    files: [],
    source: 'synthetic',
    warnings: [],
  };
  return { volume, truth: { columns: n, rows: n, slices: spec.slices, data: truth }, spec };
}

/**
 * A planning visit and a follow-up visit of one phantom patient.
 *
 * @example
 *   const study = phantomStudy({ zShiftMm: 41.3 });
 *   study.reference.volume; // 40 slices of 3 mm, tumour mask in study.reference.truth
 *   study.target.volume;    // 48 slices of 2.5 mm, table moved 41.3 mm along z
 */
export function phantomStudy(options: PhantomStudyOptions = {}): PhantomStudy {
  const seed = options.seed ?? 1;
  const size = options.size ?? 512;
  // Keep the field of view ≈ 410 mm whatever the matrix, like a chest CT.
  const pixel = 410 / size;
  const firstZ = options.firstZ ?? -60;
  const shift = options.zShiftMm ?? 41.3;
  const patientId = `P2SAM-PHANTOM-${seed}`;
  const refSpec: VisitSpec = {
    tableShift: [0, 0, 0],
    size,
    pixelMm: pixel,
    sliceMm: options.referenceSliceMm ?? 3,
    slices: options.referenceSlices ?? 40,
    firstZ,
    tumour: [
      { centre: [-82, 8, 5], radii: [36, 28, 28], angleDeg: 20 },
      { centre: [-58, 44, 20], radii: [15, 13, 14], angleDeg: 0 },
    ],
    seriesDescription: 'planning CT',
    studyDate: '20260105',
  };
  const shared = options.sharedFrameOfReference === true;
  const tgtSpec: VisitSpec = {
    // One frame of reference means one coordinate system: the scans are registered, so the
    // same anatomy has the same coordinates (no table shift between them).
    tableShift: shared ? [0, 0, 0] : [3.2, -2.4, shift],
    size,
    pixelMm: pixel * 0.97,
    sliceMm: options.targetSliceMm ?? 2.5,
    slices: options.targetSlices ?? 48,
    firstZ: firstZ + 4.7,
    tumour: [
      // Shrunk, moved and turned; the satellite has grown and drifted up and out.
      { centre: [-78, 12, 1], radii: [31, 25, 24], angleDeg: 38 },
      { centre: [-54, 47, 15], radii: [17, 15, 16], angleDeg: 0 },
    ],
    seriesDescription: 'follow-up CT',
    studyDate: '20260302',
  };
  const forA = newUid(`phantom/${seed}/for/a`);
  const forB = shared ? forA : newUid(`phantom/${seed}/for/b`);
  const noise = options.noiseHu ?? 12;
  const reference = renderVisit(refSpec, `phantom/${seed}/a`, patientId, forA, noise, seed * 7919 + 1);
  const target = renderVisit(tgtSpec, `phantom/${seed}/b`, patientId, forB, noise, seed * 7919 + 2);
  return {
    patientId,
    reference,
    target,
    zOffsetMm: tgtSpec.tableShift[2] - refSpec.tableShift[2],
    sharedFrameOfReference: shared,
  };
}
