/**
 * One slice of a volume as the engine sees it: HU → 8-bit grey through a window, grey
 * repeated into RGB (the SAM encoders take three channels), and the matching slice of a
 * mask volume. Slices are cut on demand so a whole volume is never converted at once.
 */
import type { MaskVolume, Volume } from '../clinical/volume';
import type { ImageData, MaskData } from '../types';
import type { CropRect } from './crop';

/** Slice `k` of `volume` windowed to [low, high] HU as an RGB image, optionally only the rectangle `crop`. */
export function sliceImage(
  volume: Volume,
  k: number,
  window: readonly [number, number],
  crop?: CropRect,
): ImageData {
  const plane = volume.columns * volume.rows;
  const r = crop ?? { x: 0, y: 0, width: volume.columns, height: volume.rows };
  const [low, high] = window;
  const scale = 255 / (high - low);
  const data = new Uint8Array(r.width * r.height * 3);
  for (let y = 0; y < r.height; y++) {
    const row = k * plane + (r.y + y) * volume.columns + r.x;
    for (let x = 0; x < r.width; x++) {
      const v = (volume.voxels[row + x]! - low) * scale;
      const g = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
      const o = 3 * (y * r.width + x);
      data[o] = g;
      data[o + 1] = g;
      data[o + 2] = g;
    }
  }
  return { data, width: r.width, height: r.height, channels: 3 };
}

/** The rectangle `crop` of a mask plane (a copy). */
export function cropMask(m: MaskData, crop: CropRect): MaskData {
  const data = new Uint8Array(crop.width * crop.height);
  for (let y = 0; y < crop.height; y++)
    data.set(
      m.data.subarray((crop.y + y) * m.width + crop.x, (crop.y + y) * m.width + crop.x + crop.width),
      y * crop.width,
    );
  return { data, width: crop.width, height: crop.height };
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
