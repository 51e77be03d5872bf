/**
 * Checks a job's data before any work: a malformed job is the producer's mistake, so it
 * fails at once with a P2SamError INVALID_ARGUMENT naming the field (and is not retried,
 * see retry-policy.ts). The producer runs the same check before enqueueing, so most bad
 * jobs never reach a worker; the worker checks again because anything can write to Redis.
 */
import { describeValue, P2SamError } from '../errors';
import * as opt from '../options';
import { isPlainObject } from '../validate';
import type { P2SamJobData, SequenceJobData, VolumeJobData } from './job-types';

function invalid(field: string, expected: string, received: unknown): never {
  throw new P2SamError(
    'INVALID_ARGUMENT',
    `job.${field}: expected ${expected}, received ${describeValue(received)}`,
  );
}

function pathField(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.includes('\0'))
    invalid(field, 'a non-empty path', value);
  return value;
}

/**
 * Validates job data of either kind.
 *
 * @throws P2SamError INVALID_ARGUMENT naming the first bad field.
 * @example
 *   checkJobData({ kind: 'sequence', encoder: 'e.onnx', decoder: 'd.onnx',
 *                  reference: { image: 'r.png', mask: 'r-mask.png' }, targets: ['t.png'], out: 'out' });
 */
export function checkJobData(data: unknown): P2SamJobData {
  if (!isPlainObject(data)) invalid('', 'an object', data);
  if (data.kind === 'sequence') return checkSequence(data);
  if (data.kind === 'volume') return checkVolume(data);
  return invalid('kind', "'sequence' or 'volume'", data.kind);
}

function checkSequence(d: Record<string, unknown>): SequenceJobData {
  pathField('encoder', d.encoder);
  pathField('decoder', d.decoder);
  pathField('out', d.out);
  if (d.normalization !== undefined && d.normalization !== 'sam' && d.normalization !== 'medsam')
    invalid('normalization', "'sam' or 'medsam'", d.normalization);
  if (!isPlainObject(d.reference)) invalid('reference', 'an object { image, mask }', d.reference);
  pathField('reference.image', d.reference.image);
  pathField('reference.mask', d.reference.mask);
  if (!Array.isArray(d.targets) || d.targets.length === 0)
    invalid('targets', 'a non-empty array of image paths', d.targets);
  for (const [i, t] of d.targets.entries()) pathField(`targets[${i}]`, t);
  if (d.options !== undefined) {
    if (!isPlainObject(d.options)) invalid('options', 'an object', d.options);
    const o = d.options;
    if (o.overlay !== undefined && typeof o.overlay !== 'boolean')
      invalid('options.overlay', 'a boolean', o.overlay);
    // The library's own resolvers word range errors in its terms; rewrap them as job errors.
    try {
      opt.resolveReference({
        mode: o.mode,
        parts: o.parts,
        negatives: o.negatives,
        seed: o.seed,
        restarts: o.restarts,
      });
      opt.resolveSegment({ retrieval: { solver: o.solver, weights: o.weights } });
    } catch (err) {
      throw new P2SamError('INVALID_ARGUMENT', `job.options: ${(err as Error).message}`, { cause: err });
    }
  }
  return d as unknown as SequenceJobData;
}

function checkVolume(d: Record<string, unknown>): VolumeJobData {
  for (const f of ['encoder', 'decoder', 'refSeries', 'refRtstruct', 'targetSeries', 'out'])
    pathField(f, d[f]);
  if (typeof d.roi !== 'string' || d.roi.length === 0) invalid('roi', 'a non-empty ROI name', d.roi);
  if (d.normalization !== undefined && d.normalization !== 'sam' && d.normalization !== 'medsam')
    invalid('normalization', "'sam' or 'medsam'", d.normalization);
  if (d.options !== undefined) {
    if (!isPlainObject(d.options)) invalid('options', 'an object', d.options);
    const o = d.options;
    if (
      o.marginMm !== undefined &&
      !(typeof o.marginMm === 'number' && Number.isFinite(o.marginMm) && o.marginMm >= 0)
    )
      invalid('options.marginMm', 'a finite number ≥ 0', o.marginMm);
    if (o.outputRoi !== undefined && (typeof o.outputRoi !== 'string' || o.outputRoi.length === 0))
      invalid('options.outputRoi', 'a non-empty ROI name', o.outputRoi);
    const w = o.window;
    const presets = ['lung', 'mediastinum', 'soft-tissue', 'p2sam'];
    const pair =
      Array.isArray(w) &&
      w.length === 2 &&
      w.every((x) => typeof x === 'number' && Number.isFinite(x)) &&
      w[0] < w[1];
    if (w !== undefined && !(typeof w === 'string' && presets.includes(w)) && !pair)
      invalid('options.window', `one of ${presets.join(', ')} or [low, high] with low < high`, w);
  }
  return d as unknown as VolumeJobData;
}
