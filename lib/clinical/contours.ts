/**
 * Mask slice ↔ closed planar contours, the two halves of an exact RTSTRUCT round trip.
 *
 * Tracing: every foreground pixel side that faces background (or the image border) is a
 * unit boundary edge between two pixel corners, directed clockwise around the foreground
 * as seen on screen (rows growing downwards). Edges are chained into closed loops; at a
 * corner where two foreground pixels touch only diagonally the chain turns clockwise, so
 * each loop encloses one 4-connected piece of foreground (or one hole). Every island and
 * every hole is its own loop; nothing is dropped, however small.
 *
 * Two vertex conventions, both exact under the rasteriser below:
 * - 'pixel-centres' (default): each loop vertex is the midpoint of a boundary edge, i.e.
 *   the marching-squares iso-line at 0.5 between pixel centres. A one-pixel structure
 *   becomes a diamond around its centre; contours lie half a pixel inside the voxel
 *   edges, the convention of most planning systems for contours drawn on pixel centres.
 * - 'voxel-edges': vertices at pixel corners; the contour is the outline of the voxels,
 *   so its area equals the voxel area (what dose-volume tools assume when they
 *   rasterise by pixel coverage).
 * Collinear vertices are dropped (exactly: coordinates are halves of integers).
 *
 * Rasterisation: even-odd rule over all contours of a slice, a pixel is inside when its
 * centre is. Each pixel row is a scan line through the centres; an edge crosses it when
 * one end is at or below the line and the other above (half-open, so a vertex on the
 * line counts once), and pixels with ceil(xIn) ≤ c < ceil(xOut) are filled. Contours
 * traced here never pass through a pixel centre, so the tie rule only matters for
 * contours drawn by other software.
 *
 * Coordinates here are pixel indices: x = column, y = row, pixel centres on integers.
 */

export type ContourConvention = 'pixel-centres' | 'voxel-edges';

/** One closed polygon as flat [x0, y0, x1, y1, …] in pixel-index coordinates. */
export type PixelContour = number[];

const DX = [1, 0, -1, 0];
const DY = [0, 1, 0, -1];

/**
 * Traces the boundary loops of one binary slice.
 *
 * @example
 *   const loops = traceContours(slice, 512, 512); // slice: Uint8Array, 1 = inside
 *   // loops[i] = [x0, y0, x1, y1, …] with pixel centres on integer coordinates
 */
export function traceContours(
  mask: Uint8Array,
  width: number,
  height: number,
  convention: ContourConvention = 'pixel-centres',
): PixelContour[] {
  const cw = width + 1;
  // Bit d of out[corner] set ⇔ a boundary edge leaves that corner in direction d.
  const out = new Uint8Array(cw * (height + 1));
  const at = (c: number, r: number) =>
    c >= 0 && r >= 0 && c < width && r < height && mask[r * width + c] !== 0;
  let edges = 0;
  for (let r = 0; r < height; r++) {
    const row = r * width;
    for (let c = 0; c < width; c++) {
      if (mask[row + c] === 0) continue;
      if (!at(c, r - 1)) {
        out[r * cw + c] |= 1; // top: (c,r) → (c+1,r)
        edges++;
      }
      if (!at(c + 1, r)) {
        out[r * cw + c + 1] |= 2; // right: (c+1,r) → (c+1,r+1)
        edges++;
      }
      if (!at(c, r + 1)) {
        out[(r + 1) * cw + c + 1] |= 4; // bottom: (c+1,r+1) → (c,r+1)
        edges++;
      }
      if (!at(c - 1, r)) {
        out[(r + 1) * cw + c] |= 8; // left: (c,r+1) → (c,r)
        edges++;
      }
    }
  }
  if (!edges) return [];
  const used = new Uint8Array(out.length);
  const loops: PixelContour[] = [];
  // Chosen continuation at a corner reached in direction d: clockwise turn first.
  const next = (corner: number, d: number) => {
    const bits = out[corner]!;
    for (const turn of [1, 0, 3]) {
      const nd = (d + turn) & 3;
      if (bits & (1 << nd)) return nd;
    }
    return -1;
  };
  for (let start = 0; start < out.length; start++) {
    while (out[start]! & ~used[start]!) {
      const free = out[start]! & ~used[start]!;
      const d0 = free & 1 ? 0 : free & 2 ? 1 : free & 4 ? 2 : 3;
      // Vertices in doubled pixel coordinates, so corners and edge midpoints are integers
      // and the collinearity test below is exact.
      const raw: number[] = [];
      let corner = start;
      let d = d0;
      for (;;) {
        used[corner]! |= 1 << d;
        const x = corner % cw;
        const y = (corner - x) / cw;
        if (convention === 'voxel-edges') raw.push(2 * x - 1, 2 * y - 1);
        else raw.push(2 * x + DX[d]! - 1, 2 * y + DY[d]! - 1); // edge midpoint
        const end = corner + DX[d]! + DY[d]! * cw;
        const nd = next(end, d);
        if (end === start && nd === d0) break;
        if (nd < 0 || used[end]! & (1 << nd)) {
          // Cannot happen for a binary mask (every corner balances in and out edges).
          throw new Error(`contour tracing: open chain at corner ${end}`);
        }
        corner = end;
        d = nd;
      }
      loops.push(dropCollinear(raw));
    }
  }
  return loops;
}

/** Removes vertices that lie on the line through their neighbours; halves coordinates. */
function dropCollinear(raw: number[]): PixelContour {
  const n = raw.length / 2;
  const keep: number[] = [];
  for (let i = 0; i < n; i++) {
    const p = (i + n - 1) % n;
    const q = (i + 1) % n;
    const ax = raw[2 * i]! - raw[2 * p]!;
    const ay = raw[2 * i + 1]! - raw[2 * p + 1]!;
    const bx = raw[2 * q]! - raw[2 * i]!;
    const by = raw[2 * q + 1]! - raw[2 * i + 1]!;
    if (ax * by - ay * bx !== 0 || ax * bx + ay * by < 0) keep.push(raw[2 * i]! / 2, raw[2 * i + 1]! / 2);
  }
  return keep;
}

/**
 * Fills `target` (width×height, row-major) with the even-odd interior of the contours,
 * sampled at pixel centres. `target` is overwritten, not OR-ed.
 *
 * @example
 *   const slice = new Uint8Array(w * h);
 *   rasterizeContours(traceContours(mask, w, h), w, h, slice); // slice equals mask
 */
export function rasterizeContours(
  contours: readonly PixelContour[],
  width: number,
  height: number,
  target: Uint8Array,
): void {
  target.fill(0);
  const crossings: number[][] = Array.from({ length: height }, () => []);
  for (const poly of contours) {
    const n = poly.length / 2;
    if (n < 3) {
      // A point or a line has no interior; planning systems store single-voxel ROIs as
      // POINT or degenerate contours: mark the voxels their vertices fall in.
      for (let i = 0; i < n; i++) {
        const c = Math.round(poly[2 * i]!);
        const r = Math.round(poly[2 * i + 1]!);
        if (c >= 0 && r >= 0 && c < width && r < height) target[r * width + c] = 1;
      }
      continue;
    }
    for (let i = 0; i < n; i++) {
      const x0 = poly[2 * i]!;
      const y0 = poly[2 * i + 1]!;
      const x1 = poly[(2 * i + 2) % poly.length]!;
      const y1 = poly[(2 * i + 3) % poly.length]!;
      if (y0 === y1) continue;
      const lo = Math.min(y0, y1);
      const hi = Math.max(y0, y1);
      // Rows r with lo <= r < hi (half-open: a vertex on a row is counted once).
      const rStart = Math.max(0, Math.ceil(lo));
      const rEnd = Math.min(height - 1, Math.ceil(hi) - 1);
      for (let r = rStart; r <= rEnd; r++) {
        const x = x0 + ((r - y0) * (x1 - x0)) / (y1 - y0);
        crossings[r]!.push(x);
      }
    }
  }
  for (let r = 0; r < height; r++) {
    const xs = crossings[r]!;
    if (xs.length < 2) continue;
    xs.sort((a, b) => a - b);
    const row = r * width;
    for (let i = 0; i + 1 < xs.length; i += 2) {
      const c0 = Math.max(0, Math.ceil(xs[i]!));
      const c1 = Math.min(width, Math.ceil(xs[i + 1]!));
      for (let c = c0; c < c1; c++) target[row + c] = 1;
    }
  }
}
