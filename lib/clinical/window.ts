/**
 * Hounsfield-unit windowing: a CT volume in HU → 0–255 grey levels for the image encoder.
 *
 * This is distinct from the 16-bit PNG window of `readImage` (which maps *stored* units
 * of a greyscale PNG): here the input is already in HU (RescaleSlope/Intercept applied
 * by `readDicomSeries`), and the presets are radiological conventions (level/width):
 *
 *   lung          L −600 / W 1500  →  [−1350, 150]
 *   mediastinum   L   40 / W  400  →  [ −160, 240]
 *   soft-tissue   L   50 / W  350  →  [ −125, 225]
 *   p2sam         [−910, 590]: the P2SAM authors' CT preprocessing
 *
 * Values below `low` map to 0, above `high` to 255, linearly in between.
 */
import { P2SamError, describeValue } from '../errors';
import type { ImageData } from '../types';
import type { Volume } from './volume';

export type HuWindow = 'lung' | 'mediastinum' | 'soft-tissue' | 'p2sam' | readonly [number, number];

export const HU_WINDOWS: Readonly<
  Record<Exclude<HuWindow, readonly [number, number]>, readonly [number, number]>
> = {
  lung: [-1350, 150],
  mediastinum: [-160, 240],
  'soft-tissue': [-125, 225],
  p2sam: [-910, 590],
};

/** The [low, high] HU bounds of a window preset or pair; INVALID_ARGUMENT otherwise. */
export function huWindowBounds(window: HuWindow): [number, number] {
  if (typeof window === 'string') {
    const w = HU_WINDOWS[window as keyof typeof HU_WINDOWS];
    if (!w)
      throw new P2SamError(
        'INVALID_ARGUMENT',
        `window: expected 'lung', 'mediastinum', 'soft-tissue', 'p2sam' or [low, high] in HU, received ${describeValue(window)}`,
      );
    return [w[0], w[1]];
  }
  if (
    !Array.isArray(window) ||
    window.length !== 2 ||
    !window.every((v) => typeof v === 'number' && Number.isFinite(v)) ||
    !(window[0] < window[1])
  ) {
    throw new P2SamError(
      'INVALID_ARGUMENT',
      `window: expected [low, high] with finite low < high in HU, received ${describeValue(window)}`,
    );
  }
  return [window[0], window[1]];
}

/**
 * Maps HU values to 8-bit grey levels.
 *
 * @example
 *   const grey = applyHuWindow(ct.voxels.subarray(0, ct.columns * ct.rows), 'lung');
 */
export function applyHuWindow(hu: Float32Array, window: HuWindow): Uint8Array {
  const [low, high] = huWindowBounds(window);
  const scale = 255 / (high - low);
  const out = new Uint8Array(hu.length);
  for (let i = 0; i < hu.length; i++) {
    const v = (hu[i]! - low) * scale;
    out[i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
  }
  return out;
}

/** One slice of a volume as an RGB image (grey repeated), the encoder's input form. */
export function sliceToRgb(hu: Float32Array, window: HuWindow): Uint8Array {
  const grey = applyHuWindow(hu, window);
  const rgb = new Uint8Array(grey.length * 3);
  for (let i = 0; i < grey.length; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = grey[i]!;
  return rgb;
}

/**
 * Slice k of a volume, windowed, as the RGB ImageData the image encoder takes.
 *
 * @example
 *   const image = volumeSliceImage(ct, 40, 'p2sam'); // { data, width, height, channels: 3 }
 */
export function volumeSliceImage(
  volume: Pick<Volume, 'voxels' | 'columns' | 'rows' | 'slices'>,
  k: number,
  window: HuWindow,
): ImageData {
  if (!Number.isInteger(k) || k < 0 || k >= volume.slices) {
    throw new P2SamError(
      'INVALID_ARGUMENT',
      `slice: expected an integer 0–${volume.slices - 1}, received ${describeValue(k)}`,
    );
  }
  const plane = volume.columns * volume.rows;
  return {
    data: sliceToRgb(volume.voxels.subarray(k * plane, (k + 1) * plane), window),
    width: volume.columns,
    height: volume.rows,
    channels: 3,
  };
}
