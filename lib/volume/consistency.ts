/**
 * Optional 3-D consistency: on each slice keep only the connected parts (8-connected) that
 * touch the result of a neighbouring slice (in z order), dilated by `radius` pixels so a
 * part that moves a little between slices still counts. A part that appears on one slice
 * with nothing above or below it is where a prompt latched onto a look-alike; a real
 * structure continues through slices. Slices whose neighbours are both empty keep
 * everything (a one-slice object has no neighbour to agree with).
 */
import type { MaskVolume } from '../clinical/volume';

/** 8-connected component labels (1..n) of a binary plane; returns the count. */
export function labelComponents(mask: Uint8Array, width: number, height: number, labels: Int32Array): number {
  labels.fill(0);
  let next = 0;
  const stack: number[] = [];
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || labels[start]) continue;
    next++;
    labels[start] = next;
    stack.push(start);
    while (stack.length) {
      const p = stack.pop()!;
      const x = p % width;
      const y = (p - x) / width;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= width) continue;
          const q = yy * width + xx;
          if (mask[q] && !labels[q]) {
            labels[q] = next;
            stack.push(q);
          }
        }
      }
    }
  }
  return next;
}

function dilate(src: Uint8Array, width: number, height: number, radius: number): Uint8Array {
  // Separable square dilation: rows, then columns.
  const tmp = new Uint8Array(src.length);
  for (let y = 0; y < height; y++) {
    for (let x = width - 1, nextOn = Infinity; x >= 0; x--) {
      if (src[y * width + x]) nextOn = x;
      tmp[y * width + x] = nextOn - x <= radius ? 1 : 0;
    }
    for (let x = 0, prevOn = -Infinity; x < width; x++) {
      if (src[y * width + x]) prevOn = x;
      if (x - prevOn <= radius) tmp[y * width + x] = 1;
    }
  }
  const out = new Uint8Array(src.length);
  for (let x = 0; x < width; x++) {
    for (let y = height - 1, nextOn = Infinity; y >= 0; y--) {
      if (tmp[y * width + x]) nextOn = y;
      out[y * width + x] = nextOn - y <= radius ? 1 : 0;
    }
    for (let y = 0, prevOn = -Infinity; y < height; y++) {
      if (tmp[y * width + x]) prevOn = y;
      if (y - prevOn <= radius) out[y * width + x] = 1;
    }
  }
  return out;
}

/**
 * Applies the rule above in place. `order` lists the mask's slices in z order.
 * Returns the number of pixels removed.
 *
 * @example
 *   keepConsistentComponents(result.mask, [0, 1, 2, 3]);
 */
export function keepConsistentComponents(mask: MaskVolume, order: number[], radius = 4): number {
  const w = mask.columns;
  const h = mask.rows;
  const plane = w * h;
  const original = order.map((k) => mask.data.slice(k * plane, (k + 1) * plane));
  const labels = new Int32Array(plane);
  let removed = 0;
  for (let i = 0; i < order.length; i++) {
    const cur = original[i]!;
    const neighbours = [original[i - 1], original[i + 1]].filter((m) =>
      m?.some((x) => x !== 0),
    ) as Uint8Array[];
    if (neighbours.length === 0) continue;
    const n = labelComponents(cur, w, h, labels);
    if (n === 0) continue;
    const support = new Uint8Array(plane);
    for (const m of neighbours) for (let p = 0; p < plane; p++) if (m[p]) support[p] = 1;
    const near = dilate(support, w, h, radius);
    const keep = new Uint8Array(n + 1);
    for (let p = 0; p < plane; p++) if (labels[p] && near[p]) keep[labels[p]!] = 1;
    const base = order[i]! * plane;
    for (let p = 0; p < plane; p++)
      if (labels[p] && !keep[labels[p]!]) {
        mask.data[base + p] = 0;
        removed++;
      }
  }
  return removed;
}
