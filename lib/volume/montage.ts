/**
 * The review montage of one visit: for every slice the model ran on, the reference slice
 * it was paired with (annotated contour in green) beside the target slice (result contour
 * in red, or none when the slice came out empty), with a caption of slice numbers, score
 * ratio and area. Drawn on the pixel buffers with a built-in 3×5 pixel font, so it needs
 * no font library and is identical on every machine.
 */
import type { MaskVolume, Volume } from '../clinical/volume';
import type { ImageData } from '../types';
import type { VolumeSliceRecord } from './segment-volume';

// 3×5 glyphs, one row per string, '#' = ink.
const GLYPHS: Record<string, string[]> = {
  '0': ['###', '#.#', '#.#', '#.#', '###'],
  '1': ['.#.', '##.', '.#.', '.#.', '###'],
  '2': ['###', '..#', '###', '#..', '###'],
  '3': ['###', '..#', '.##', '..#', '###'],
  '4': ['#.#', '#.#', '###', '..#', '..#'],
  '5': ['###', '#..', '###', '..#', '###'],
  '6': ['###', '#..', '###', '#.#', '###'],
  '7': ['###', '..#', '.#.', '.#.', '.#.'],
  '8': ['###', '#.#', '###', '#.#', '###'],
  '9': ['###', '#.#', '###', '..#', '###'],
  '.': ['...', '...', '...', '...', '.#.'],
  '-': ['...', '...', '###', '...', '...'],
  '=': ['...', '###', '...', '###', '...'],
  ' ': ['...', '...', '...', '...', '...'],
  T: ['###', '.#.', '.#.', '.#.', '.#.'],
  R: ['##.', '#.#', '##.', '#.#', '#.#'],
  S: ['###', '#..', '###', '..#', '###'],
  A: ['.#.', '#.#', '###', '#.#', '#.#'],
  E: ['###', '#..', '##.', '#..', '###'],
  M: ['#.#', '###', '###', '#.#', '#.#'],
  P: ['##.', '#.#', '##.', '#..', '#..'],
  Y: ['#.#', '#.#', '.#.', '.#.', '.#.'],
  X: ['#.#', '#.#', '.#.', '#.#', '#.#'],
};

function drawText(
  img: ImageData,
  x0: number,
  y0: number,
  text: string,
  color: [number, number, number],
  scale = 2,
): void {
  let x = x0;
  for (const ch of text.toUpperCase()) {
    const g = GLYPHS[ch] ?? GLYPHS[' ']!;
    for (let gy = 0; gy < 5; gy++)
      for (let gx = 0; gx < 3; gx++) {
        if (g[gy]![gx] !== '#') continue;
        for (let sy = 0; sy < scale; sy++)
          for (let sx = 0; sx < scale; sx++) {
            const px = x + gx * scale + sx;
            const py = y0 + gy * scale + sy;
            if (px < 0 || py < 0 || px >= img.width || py >= img.height) continue;
            img.data.set(color, (py * img.width + px) * 3);
          }
      }
    x += 4 * scale;
  }
}

/** Nearest-neighbour thumbnail of slice k: windowed grey, with the mask's outline in `color`. */
function tile(
  volume: Volume,
  mask: MaskVolume | undefined,
  k: number,
  window: [number, number],
  size: number,
  color: [number, number, number],
): Uint8Array {
  const out = new Uint8Array(size * size * 3);
  const plane = volume.columns * volume.rows;
  const [lo, hi] = window;
  const scale = 255 / (hi - lo);
  const sx = volume.columns / size;
  const sy = volume.rows / size;
  const thumbMask = new Uint8Array(size * size);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const src =
        k * plane +
        Math.min(volume.rows - 1, Math.floor((y + 0.5) * sy)) * volume.columns +
        Math.min(volume.columns - 1, Math.floor((x + 0.5) * sx));
      const g = Math.max(0, Math.min(255, Math.round((volume.voxels[src]! - lo) * scale)));
      out.fill(g, (y * size + x) * 3, (y * size + x) * 3 + 3);
      if (mask) thumbMask[y * size + x] = mask.data[src] ? 1 : 0;
    }
  if (mask)
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        if (!thumbMask[y * size + x]) continue;
        const edge =
          x === 0 ||
          y === 0 ||
          x === size - 1 ||
          y === size - 1 ||
          !thumbMask[y * size + x - 1] ||
          !thumbMask[y * size + x + 1] ||
          !thumbMask[(y - 1) * size + x] ||
          !thumbMask[(y + 1) * size + x];
        if (edge) out.set(color, (y * size + x) * 3);
      }
  return out;
}

/**
 * Renders the montage: one row of `perRow` (reference | target) pairs per line.
 *
 * @example
 *   const img = renderVolumeMontage(planning, gtv, followUp, result.mask, result.slices, result.summary.window);
 *   await writeImagePng('review.png', img);
 */
export function renderVolumeMontage(
  reference: Volume,
  referenceMask: MaskVolume,
  target: Volume,
  targetMask: MaskVolume,
  records: VolumeSliceRecord[],
  window: [number, number],
  options: { tileSize?: number; perRow?: number } = {},
): ImageData {
  const size = options.tileSize ?? 160;
  const perRow = options.perRow ?? 4;
  const shown = records.filter((r) => r.ran || r.referenceSlice !== null);
  const caption = 28;
  const gap = 6;
  const pairW = 2 * size + gap;
  const cols = Math.max(1, Math.min(perRow, shown.length));
  const rowsN = Math.max(1, Math.ceil(shown.length / perRow));
  const width = cols * pairW + (cols + 1) * gap;
  const height = rowsN * (size + caption) + (rowsN + 1) * gap;
  const img: ImageData = { data: new Uint8Array(width * height * 3).fill(24), width, height, channels: 3 };
  shown.forEach((r, i) => {
    const ox = gap + (i % perRow) * (pairW + gap);
    const oy = gap + Math.floor(i / perRow) * (size + caption + gap);
    const tiles: [Uint8Array, number][] = [];
    if (r.referenceSlice !== null)
      tiles.push([tile(reference, referenceMask, r.referenceSlice, window, size, [40, 220, 60]), ox]);
    tiles.push([
      tile(target, r.present ? targetMask : undefined, r.targetSlice, window, size, [235, 40, 40]),
      ox + size + gap,
    ]);
    for (const [t, x] of tiles)
      for (let y = 0; y < size; y++)
        img.data.set(t.subarray(y * size * 3, (y + 1) * size * 3), ((oy + y) * width + x) * 3);
    const ratio = r.scoreRatio === null ? '-' : r.scoreRatio.toFixed(2);
    drawText(
      img,
      ox,
      oy + size + 3,
      `R${r.referenceSlice ?? '-'} T${r.targetSlice} S=${ratio}`,
      [230, 230, 230],
    );
    drawText(
      img,
      ox,
      oy + size + 15,
      r.present ? `A=${Math.round(r.areaMm2)}` : 'EMPTY',
      r.present ? [235, 90, 90] : [150, 150, 150],
    );
  });
  return img;
}
