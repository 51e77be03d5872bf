/**
 * RT Structure Set → mask volume on a reference series.
 *
 * Each contour is placed on the slice whose plane it lies in (by its points' position
 * along the volume normal, within half the local slice gap), its points are projected
 * into that slice's own pixel grid (its ImagePositionPatient, the series orientation and
 * PixelSpacing), and all CLOSED_PLANAR contours of the ROI on one slice are filled
 * together with the even-odd rule at pixel centres — so holes drawn as inner contours
 * and every island come out as drawn. POINT and OPEN contours mark the voxels their
 * points fall in.
 */
import { P2SamError } from '../errors';
import type { NaturalDataset } from './dcmjs';
import { items, numbers, readDicomFile, SOP_CLASS, text } from './dicom-file';
import { rasterizeContours, type PixelContour } from './contours';
import {
  dot,
  emptyMask,
  patientToPixel,
  sliceAtOffset,
  sliceOffsets,
  type MaskVolume,
  type Volume,
  type VolumeGeometry,
} from './volume';

export interface RtstructRoi {
  number: number;
  name: string;
  /** Number of contours (all geometric types). */
  contours: number;
  /** Contour geometric types used by this ROI. */
  types: string[];
  generationAlgorithm: string;
  interpretedType: string;
  color?: [number, number, number];
  frameOfReferenceUid: string;
}

export interface RtstructInfo {
  file: string;
  label: string;
  sopInstanceUid: string;
  frameOfReferenceUid: string;
  /** SeriesInstanceUIDs the structure set says its contours are drawn on. */
  referencedSeriesUids: string[];
  /** SOPInstanceUIDs of the images in its Contour Image Sequences. */
  referencedSopInstanceUids: string[];
  rois: RtstructRoi[];
  dataset: NaturalDataset;
}

/**
 * Reads an RTSTRUCT's header: ROIs, their contour counts, referenced series.
 *
 * @example
 *   const { rois } = readRtstructInfo('rtstruct.dcm');
 *   rois.map((r) => `${r.number}: ${r.name}`);
 */
export function readRtstructInfo(file: string): RtstructInfo {
  const df = readDicomFile(file);
  const ds = df.dataset;
  if (text(ds, 'SOPClassUID') !== SOP_CLASS.rtstruct && text(ds, 'Modality') !== 'RTSTRUCT') {
    throw new P2SamError(
      'RTSTRUCT_INVALID',
      `${file}: expected an RT Structure Set (SOP class ${SOP_CLASS.rtstruct}), received Modality ${text(ds, 'Modality') || '?'}, SOP class ${text(ds, 'SOPClassUID') || '?'}`,
    );
  }
  const frames = items(ds, 'ReferencedFrameOfReferenceSequence');
  const series: string[] = [];
  const sops: string[] = [];
  for (const f of frames) {
    for (const st of items(f, 'RTReferencedStudySequence')) {
      for (const se of items(st, 'RTReferencedSeriesSequence')) {
        series.push(text(se, 'SeriesInstanceUID'));
        for (const im of items(se, 'ContourImageSequence')) sops.push(text(im, 'ReferencedSOPInstanceUID'));
      }
    }
  }
  const contoursByRoi = new Map<number, NaturalDataset>();
  for (const rc of items(ds, 'ROIContourSequence'))
    contoursByRoi.set(numbers(rc, 'ReferencedROINumber')?.[0] ?? -1, rc);
  const observations = new Map<number, NaturalDataset>();
  for (const ob of items(ds, 'RTROIObservationsSequence'))
    observations.set(numbers(ob, 'ReferencedROINumber')?.[0] ?? -1, ob);
  const rois: RtstructRoi[] = items(ds, 'StructureSetROISequence').map((roi) => {
    const number = numbers(roi, 'ROINumber')?.[0] ?? -1;
    const rc = contoursByRoi.get(number);
    const contours = rc ? items(rc, 'ContourSequence') : [];
    const color = rc ? numbers(rc, 'ROIDisplayColor') : undefined;
    return {
      number,
      name: text(roi, 'ROIName'),
      contours: contours.length,
      types: [...new Set(contours.map((c) => text(c, 'ContourGeometricType')))],
      generationAlgorithm: text(roi, 'ROIGenerationAlgorithm'),
      interpretedType: observations.has(number)
        ? text(observations.get(number)!, 'RTROIInterpretedType')
        : '',
      ...(color && color.length === 3
        ? { color: [color[0]!, color[1]!, color[2]!] as [number, number, number] }
        : {}),
      frameOfReferenceUid: text(roi, 'ReferencedFrameOfReferenceUID'),
    };
  });
  return {
    file,
    label: text(ds, 'StructureSetLabel'),
    sopInstanceUid: text(ds, 'SOPInstanceUID'),
    frameOfReferenceUid: frames.length ? text(frames[0]!, 'FrameOfReferenceUID') : '',
    referencedSeriesUids: [...new Set(series.filter(Boolean))],
    referencedSopInstanceUids: sops.filter(Boolean),
    rois,
    dataset: ds,
  };
}

/** Finds an ROI by number or (exact, then case-insensitive) name; RTSTRUCT_ROI_NOT_FOUND lists them. */
export function findRoi(info: RtstructInfo, roi: string | number): RtstructRoi {
  const list = info.rois;
  const hit =
    typeof roi === 'number'
      ? list.find((r) => r.number === roi)
      : (list.find((r) => r.name === roi) ??
        list.find((r) => r.name.toLowerCase() === roi.toLowerCase()) ??
        (/^\d+$/.test(roi) ? list.find((r) => r.number === Number(roi)) : undefined));
  if (!hit) {
    throw new P2SamError(
      'RTSTRUCT_ROI_NOT_FOUND',
      `${info.file}: no ROI ${typeof roi === 'number' ? `number ${roi}` : JSON.stringify(roi)}; ROIs present: ${list.map((r) => `${r.number} "${r.name}"`).join(', ') || 'none'}`,
    );
  }
  return hit;
}

/**
 * Rasterises one ROI of an RTSTRUCT onto the volume's voxel grid.
 *
 * @example
 *   const ct = await readDicomSeries('CT/');
 *   const gtv = readRtstruct('RS.dcm', ct, { roi: 'GTV' });
 *   // gtv.data[(k * ct.rows + r) * ct.columns + c] === 1 inside
 */
export function readRtstruct(
  file: string,
  volume: Volume | (VolumeGeometry & { uids?: Volume['uids'] }),
  options: { roi: string | number },
): MaskVolume {
  const info = readRtstructInfo(file);
  const roi = findRoi(info, options.roi);
  const volumeFor = volume.uids?.frameOfReferenceUid ?? '';
  const roiFor = roi.frameOfReferenceUid || info.frameOfReferenceUid;
  // Some tools (rt-utils among them) write a fresh FrameOfReferenceUID yet reference the
  // CT series and images explicitly; an explicit reference to this series is accepted.
  const sops = new Set(volume.uids?.sopInstanceUids ?? []);
  const referencesVolume =
    (volume.uids?.seriesInstanceUid !== undefined &&
      info.referencedSeriesUids.includes(volume.uids.seriesInstanceUid)) ||
    info.referencedSopInstanceUids.some((s) => sops.has(s));
  if (volumeFor && roiFor && volumeFor !== roiFor && !referencesVolume) {
    throw new P2SamError(
      'RTSTRUCT_SERIES_MISMATCH',
      `${file}: ROI "${roi.name}" is in frame of reference ${roiFor} (series ${info.referencedSeriesUids.join(', ') || '?'}), the volume is in ${volumeFor} (series ${volume.uids?.seriesInstanceUid ?? '?'}): coordinates are not comparable`,
    );
  }
  const rc = items(info.dataset, 'ROIContourSequence').find(
    (c) => numbers(c, 'ReferencedROINumber')?.[0] === roi.number,
  );
  const mask = emptyMask(volume);
  const offsets = sliceOffsets(volume);
  const perSlice = new Map<number, PixelContour[]>();
  const plane = volume.columns * volume.rows;
  const contours = rc ? items(rc, 'ContourSequence') : [];
  contours.forEach((contour, index) => {
    const pts = numbers(contour, 'ContourData');
    const type = text(contour, 'ContourGeometricType') || 'CLOSED_PLANAR';
    if (!pts || pts.length < 3 || pts.length % 3 !== 0) {
      throw new P2SamError(
        'RTSTRUCT_INVALID',
        `${file}: ROI "${roi.name}" contour ${index + 1} has ${pts?.length ?? 0} ContourData values, expected a non-empty multiple of 3`,
      );
    }
    const n = pts.length / 3;
    let along = 0;
    for (let i = 0; i < n; i++) along += dot([pts[3 * i]!, pts[3 * i + 1]!, pts[3 * i + 2]!], volume.normal);
    along /= n;
    const k = sliceAtOffset(volume, along, offsets);
    if (k < 0) {
      throw new P2SamError(
        'RTSTRUCT_SERIES_MISMATCH',
        `${file}: ROI "${roi.name}" contour ${index + 1} lies at ${along.toFixed(3)} mm along the slice normal, on no slice of the volume (slices span ${offsets[0]!.toFixed(3)}…${offsets[offsets.length - 1]!.toFixed(3)} mm)`,
      );
    }
    const poly: PixelContour = [];
    for (let i = 0; i < n; i++) {
      const [x, y] = patientToPixel(volume, [pts[3 * i]!, pts[3 * i + 1]!, pts[3 * i + 2]!], k);
      poly.push(x, y);
    }
    if (type === 'CLOSED_PLANAR') {
      const list = perSlice.get(k) ?? [];
      list.push(poly);
      perSlice.set(k, list);
    } else {
      for (let i = 0; i < n; i++) {
        const c = Math.round(poly[2 * i]!);
        const r = Math.round(poly[2 * i + 1]!);
        if (c >= 0 && r >= 0 && c < volume.columns && r < volume.rows)
          mask.data[k * plane + r * volume.columns + c] = 1;
      }
    }
  });
  const scratch = new Uint8Array(plane);
  for (const [k, polys] of perSlice) {
    rasterizeContours(polys, volume.columns, volume.rows, scratch);
    const target = mask.data.subarray(k * plane, (k + 1) * plane);
    for (let i = 0; i < plane; i++) if (scratch[i]) target[i] = 1;
  }
  return mask;
}
