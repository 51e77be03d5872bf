/**
 * What a queued job carries. Jobs name files by path *on the worker* (models, images,
 * output folder): the queue moves instructions, not pixels, so every worker needs the
 * same view of the files (a shared mount, or the same paths on each machine).
 */
import type { HuWindow } from '../clinical/window';
import type { Mode } from '../options';

/** The default queue name of `p2sam worker` and `p2sam enqueue`. */
export const DEFAULT_QUEUE = 'p2sam';

/** Retrieval and reference settings a job may set; anything left out takes the library's default. */
export interface JobSegmentOptions {
  mode?: Mode;
  parts?: { min: number; max: number };
  negatives?: { min: number; max: number };
  seed?: number;
  restarts?: number;
  solver?: 'exact' | 'sinkhorn';
  weights?: 'uniform' | 'sigmoid';
  /** Write `<name>.overlay.png` beside each mask (default false: a pipeline wants masks). */
  overlay?: boolean;
}

/** One reference (image + mask) against a list of target images, as `p2sam segment` does. */
export interface SequenceJobData {
  kind: 'sequence';
  encoder: string;
  decoder: string;
  normalization?: 'sam' | 'medsam';
  reference: { image: string; mask: string };
  targets: string[];
  /** Output folder of this job alone: `<name>.mask.png` per target and `result.json`. */
  out: string;
  options?: JobSegmentOptions;
}

/** One CT visit contoured from an annotated earlier visit, as `p2sam volume` does for one visit. */
export interface VolumeJobData {
  kind: 'volume';
  encoder: string;
  decoder: string;
  normalization?: 'sam' | 'medsam';
  /** The annotated visit: its DICOM series folder and RT Structure Set, and the ROI name in it. */
  refSeries: string;
  refRtstruct: string;
  roi: string;
  /** The new visit's DICOM series folder. */
  targetSeries: string;
  /** Output folder of this job alone: `rtstruct.dcm` and `result.json`. */
  out: string;
  options?: {
    /** HU window preset or [low, high] (default mediastinum). */
    window?: HuWindow;
    /** How far beyond the reference ROI's extent target slices are tried (mm, default 10). */
    marginMm?: number;
    /** ROI name in the written structure set (default: `roi`). */
    outputRoi?: string;
  };
}

export type P2SamJobData = SequenceJobData | VolumeJobData;

/** What one target of a sequence job produced (recorded on the job and in result.json). */
export interface JobTargetResult {
  file: string;
  name: string;
  mask: string;
  overlay?: string;
  width: number;
  height: number;
  area: number;
  empty: boolean;
  parts: number;
  score: number | null;
}

/** The job's return value: also written to `<out>/result.json`, last, once every mask is in place. */
export interface SequenceJobResult {
  kind: 'sequence';
  jobId: string;
  /** 1 on a first run; more after a retry or after another worker took over a stalled job. */
  attempt: number;
  worker: { host: string; pid: number };
  out: string;
  targets: JobTargetResult[];
  ms: number;
}

/** A volume job's return value (also `<out>/result.json`, committed after rtstruct.dcm). */
export interface VolumeJobResult {
  kind: 'volume';
  jobId: string;
  attempt: number;
  worker: { host: string; pid: number };
  out: string;
  rtstruct: string;
  /** Target slices with the ROI, and its volume. */
  presentSlices: number;
  volumeMl: number;
  ms: number;
}

export type P2SamJobResult = SequenceJobResult | VolumeJobResult;

/** Progress events a job reports while it runs (job.updateProgress). */
export interface JobProgress {
  done: number;
  total: number;
  current?: string;
}
