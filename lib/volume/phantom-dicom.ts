/**
 * The two-visit phantom study (phantom-study.ts) written as real DICOM, as a user would
 * receive it from a PACS: per visit a CT series (CT Image Storage, int16 with
 * RescaleIntercept −1024) and an RT Structure Set with the ground-truth tumour as ROI
 * 'GTV', written by the clinical layer's RTSTRUCT writer.
 *
 *   dir/reference/ct/slice-NNN.dcm   dir/reference/rtstruct.dcm
 *   dir/target/ct/slice-NNN.dcm      dir/target/rtstruct.dcm
 */
import * as path from 'node:path';
import { writeCtSeries } from '../clinical/ct-series-write';
import { writeRtstruct } from '../clinical/rtstruct-write';
import {
  phantomStudy,
  type PhantomStudy,
  type PhantomStudyOptions,
  type PhantomVisit,
} from './phantom-study';

export interface WrittenVisit {
  seriesDir: string;
  rtstruct: string;
  /** The volume as written; its `files` are the slice files. */
  visit: PhantomVisit;
}

export interface WrittenPhantomStudy {
  dir: string;
  study: PhantomStudy;
  reference: WrittenVisit;
  target: WrittenVisit;
  /** Name of the ground-truth ROI in both structure sets. */
  roi: string;
}

function writeVisit(dir: string, visit: PhantomVisit, roi: string): WrittenVisit {
  const seriesDir = path.join(dir, 'ct');
  visit.volume.files = writeCtSeries(seriesDir, visit.volume, {
    seriesDescription: visit.spec.seriesDescription,
    modelName: 'two-visit phantom',
  });
  visit.volume.source = 'dicom';
  const rtstruct = path.join(dir, 'rtstruct.dcm');
  writeRtstruct(rtstruct, visit.volume, [{ name: roi, mask: visit.truth, interpretedType: 'GTV' }], {
    label: 'GROUND TRUTH',
    seriesDescription: 'phantom ground truth',
  });
  return { seriesDir, rtstruct, visit };
}

/**
 * Renders a two-visit study and writes it under `dir` (layout in the file comment).
 *
 * @example
 *   const s = writePhantomStudy('/tmp/study', { zShiftMm: 41.3 });
 *   // p2sam volume --ref-series s.reference.seriesDir --ref-rtstruct s.reference.rtstruct --roi GTV
 *   //              --target-series s.target.seriesDir --out /tmp/out
 */
export function writePhantomStudy(dir: string, options: PhantomStudyOptions = {}): WrittenPhantomStudy {
  const study = phantomStudy(options);
  const roi = 'GTV';
  return {
    dir,
    study,
    roi,
    reference: writeVisit(path.join(dir, 'reference'), study.reference, roi),
    target: writeVisit(path.join(dir, 'target'), study.target, roi),
  };
}
