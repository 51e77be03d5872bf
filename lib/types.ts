/**
 * Shared public data types. Kept free of runtime code so every module (engine, I/O,
 * CLI, testkit) can import them without pulling in the native addon.
 */

/** An 8-bit image in interleaved (HWC) layout. Greyscale is replicated to RGB and
 * alpha is dropped before encoding. */
export interface ImageData {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

/** A binary mask, one byte per pixel, row-major; any non-zero byte is foreground. */
export interface MaskData {
  data: Uint8Array;
  width: number;
  height: number;
}

/** A prompt point in original-image pixel coordinates. label 1 = positive, 0 = negative. */
export interface PromptPoint {
  x: number;
  y: number;
  label: 0 | 1;
}
