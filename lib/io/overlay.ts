/**
 * Visual check of a result: the image with the mask tinted on top, the mask's outline,
 * and the prompt points (positives as green dots, negatives as red crosses).
 *
 * Pure TypeScript on the pixel buffers so it works without the native addon and gives
 * byte-identical output on every platform (no font or anti-aliasing back-ends).
 */
import { P2SamError } from '../errors';
import type { ImageData, MaskData, PromptPoint } from '../types';
import { checkImageData, checkMaskData, writeImagePng } from './image';

export type Rgb = [number, number, number];

export interface OverlayOptions {
  /** Tint of the mask interior. Default dodger blue [30, 144, 255]. */
  color?: Rgb;
  /** Opacity of the tint, 0..1. Default 0.45. */
  alpha?: number;
  /** Colour of the 1-px outline drawn on the mask's boundary pixels. Default white. */
  contourColor?: Rgb;
  /** Marker radius in pixels. Default: 1% of the shorter side, at least 4. */
  pointRadius?: number;
}

const POSITIVE: Rgb = [40, 220, 60];
const NEGATIVE: Rgb = [235, 40, 40];
const OUTLINE: Rgb = [20, 20, 20];

function checkRgb(v: unknown, param: string): asserts v is Rgb {
  if (
    !Array.isArray(v) ||
    v.length !== 3 ||
    v.some((c) => typeof c !== 'number' || !Number.isInteger(c) || c < 0 || c > 255)
  ) {
    throw new TypeError(`${param}: expected [r, g, b] with integers 0..255, received ${JSON.stringify(v)}`);
  }
}

/**
 * Renders the overlay as a new 3-channel image of the same size; the inputs are not
 * modified. Points outside the image are drawn clipped (partly visible near an edge,
 * invisible far away), never an error, since a prompt may legitimately sit on the border.
 *
 * @throws P2SamError `MASK_SIZE_MISMATCH` when mask and image sizes differ;
 *   TypeError/RangeError for malformed arguments or non-finite point coordinates.
 * @example
 * ```ts
 * const r = await model.segment(image, { reference });
 * const overlay = renderOverlay(image, { data: r.mask, width: r.width, height: r.height }, r.points);
 * ```
 */
export function renderOverlay(
  image: ImageData,
  mask: MaskData,
  points: PromptPoint[] = [],
  opts: OverlayOptions = {},
): ImageData {
  checkImageData(image, 'image');
  checkMaskData(mask, 'mask');
  if (mask.width !== image.width || mask.height !== image.height) {
    throw new P2SamError(
      'MASK_SIZE_MISMATCH',
      `mask ${mask.width}×${mask.height} does not match image ${image.width}×${image.height}`,
    );
  }
  if (!Array.isArray(points))
    throw new TypeError(`points: expected an array of {x, y, label}, received ${typeof points}`);
  points.forEach((p, i) => {
    if (
      p === null ||
      typeof p !== 'object' ||
      !Number.isFinite(p.x) ||
      !Number.isFinite(p.y) ||
      (p.label !== 0 && p.label !== 1)
    ) {
      throw new TypeError(
        `points[${i}]: expected {x, y} finite numbers and label 0 or 1, received ${JSON.stringify(p)}`,
      );
    }
  });
  const color = opts.color ?? [30, 144, 255];
  checkRgb(color, 'options.color');
  const contour = opts.contourColor ?? [255, 255, 255];
  checkRgb(contour, 'options.contourColor');
  const alpha = opts.alpha ?? 0.45;
  if (typeof alpha !== 'number' || !(alpha >= 0 && alpha <= 1)) {
    throw new RangeError(`options.alpha: expected a number in [0, 1], received ${String(alpha)}`);
  }
  const { width: w, height: h } = image;
  const radius = opts.pointRadius ?? Math.max(4, Math.round(Math.min(w, h) / 100));
  if (typeof radius !== 'number' || !Number.isFinite(radius) || radius <= 0) {
    throw new RangeError(`options.pointRadius: expected a positive number, received ${String(radius)}`);
  }

  const out = new Uint8Array(w * h * 3);
  const src = image.data;
  const ch = image.channels;
  // Channel 0 is replicated for grey; alpha (channel 3) is ignored because the overlay
  // is an opaque RGB picture.
  for (let p = 0, s = 0, o = 0; p < w * h; p++, s += ch, o += 3) {
    if (ch === 1) {
      out[o] = out[o + 1] = out[o + 2] = src[s]!;
    } else {
      out[o] = src[s]!;
      out[o + 1] = src[s + 1]!;
      out[o + 2] = src[s + 2]!;
    }
  }

  const m = mask.data;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      if (m[p] === 0) continue;
      // Boundary = a foreground pixel with a 4-neighbour in the background; the image
      // border counts as background so masks touching the edge are still outlined.
      const edge =
        x === 0 ||
        y === 0 ||
        x === w - 1 ||
        y === h - 1 ||
        m[p - 1] === 0 ||
        m[p + 1] === 0 ||
        m[p - w] === 0 ||
        m[p + w] === 0;
      const o = p * 3;
      if (edge) {
        out[o] = contour[0];
        out[o + 1] = contour[1];
        out[o + 2] = contour[2];
      } else {
        for (let c = 0; c < 3; c++) out[o + c] = Math.round(out[o + c]! * (1 - alpha) + color[c]! * alpha);
      }
    }
  }

  const put = (x: number, y: number, rgb: Rgb): void => {
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    const o = (y * w + x) * 3;
    out[o] = rgb[0];
    out[o + 1] = rgb[1];
    out[o + 2] = rgb[2];
  };
  // Outline thickness grows with the marker so it stays visible on large photos.
  const rim = Math.max(1, Math.round(radius / 4));

  // Negatives first so a positive drawn at the same place stays visible on top.
  const ordered = [...points].sort((a, b) => a.label - b.label);
  for (const pt of ordered) {
    // Point coordinates address pixel centres: (x, y) is the pixel at column x, row y.
    const cx = Math.round(pt.x);
    const cy = Math.round(pt.y);
    const reach = Math.ceil(radius) + rim;
    if (pt.label === 1) {
      const rIn2 = radius * radius;
      const rOut2 = (radius + rim) * (radius + rim);
      for (let dy = -reach; dy <= reach; dy++) {
        for (let dx = -reach; dx <= reach; dx++) {
          const d2 = dx * dx + dy * dy;
          if (d2 <= rIn2) put(cx + dx, cy + dy, POSITIVE);
          else if (d2 <= rOut2) put(cx + dx, cy + dy, OUTLINE);
        }
      }
    } else {
      // An X of two diagonal strokes; the dark pass is wider so it frames the red one.
      const arm = Math.ceil(radius);
      const half = Math.max(1, Math.round(radius / 4));
      for (const [thick, rgb, ext] of [
        [half + rim, OUTLINE, rim],
        [half, NEGATIVE, 0],
      ] as const) {
        for (let dy = -(arm + ext); dy <= arm + ext; dy++) {
          for (let dx = -(arm + ext); dx <= arm + ext; dx++) {
            // Distance to the diagonals |dx - dy| / √2 and |dx + dy| / √2, compared
            // without the square root.
            const d1 = Math.abs(dx - dy);
            const d2 = Math.abs(dx + dy);
            if (Math.min(d1, d2) * Math.SQRT1_2 < thick) put(cx + dx, cy + dy, rgb);
          }
        }
      }
    }
  }
  return { data: out, width: w, height: h, channels: 3 };
}

/**
 * Renders the overlay ({@link renderOverlay}) and writes it as an RGB PNG.
 *
 * @throws the errors of {@link renderOverlay}; TypeError for an empty path.
 * @example
 * ```ts
 * await writeOverlayPng('out/frame.overlay.png', image, { data: r.mask, width: r.width, height: r.height }, r.points);
 * ```
 */
export async function writeOverlayPng(
  file: string,
  image: ImageData,
  mask: MaskData,
  points: PromptPoint[] = [],
  opts: OverlayOptions = {},
): Promise<void> {
  await writeImagePng(file, renderOverlay(image, mask, points, opts));
}
