/**
 * One slice of a volume as the engine sees it: HU → 8-bit grey through a window, grey
 * repeated into RGB (the SAM encoders take three channels), and the matching slice of a
 * mask volume. Slices are cut on demand so a whole volume is never converted at once.
 */
import type { MaskVolume, Volume } from '../clinical/volume';
import type { ImageData, MaskData } from '../types';

/** Slice `k` of `volume` windowed to [low, high] HU as an RGB image. */
export function sliceImage(volume: Volume, k: number, window: readonly [number, number]): ImageData {
  const plane = volume.columns * volume.rows;
  const hu = volume.voxels.subarray(k * plane, (k + 1) * plane);
  const [low, high] = window;
  const scale = 255 / (high - low);
  const data = new Uint8Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    const v = (hu[i]! - low) * scale;
    const g = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
    data[3 * i] = g;
    data[3 * i + 1] = g;
    data[3 * i + 2] = g;
  }
  return { data, width: volume.columns, height: volume.rows, channels: 3 };
}

/** Slice `k` of a mask volume (a view, not a copy). */
export function maskSlice(mask: MaskVolume, k: number): MaskData {
  const plane = mask.columns * mask.rows;
  return { data: mask.data.subarray(k * plane, (k + 1) * plane), width: mask.columns, height: mask.rows };
}

/** Foreground voxels of each slice. */
export function sliceAreas(mask: MaskVolume): number[] {
  const plane = mask.columns * mask.rows;
  const out: number[] = [];
  for (let k = 0; k < mask.slices; k++) {
    let n = 0;
    const base = k * plane;
    for (let i = 0; i < plane; i++) if (mask.data[base + i] !== 0) n++;
    out.push(n);
  }
  return out;
}
