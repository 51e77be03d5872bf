/**
 * `p2sam eval`: the field's metrics (docs/algorithm.md §4) over a folder of predictions and a folder
 * of ground truth.
 *
 * Pairing is by name: ground truth `<name>.<ext>` (any image extension) is matched by
 * the prediction `<name>.mask.png` (what `p2sam segment` writes) or else `<name>.png`.
 * Only pairs count: a ground-truth file without a prediction (e.g. the reference frame,
 * which the segment command never predicts) and a prediction without ground truth are
 * listed as unmatched, never scored as zero.
 *
 * With `--classes-from-dirs` each subdirectory of --gt is a class (PerSeg) or a
 * sequence (one video, one patient), matched with the subdirectory of the same name in
 * --pred. Then: PerSeg mIoU (IoU pooled per class as ΣI/ΣU, mean over classes, ×100)
 * and the sequence protocol (per-class mean Dice/IoU, then the mean of those means).
 *
 * Empty/empty: an image where both masks are empty scores 1 (perfect agreement) by
 * default; `--empty-empty 0` gives the authors' convention.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { P2SamError } from '../errors';
import { readMaskInfo } from '../io/image';
import { MAX_MASK_LEVELS } from '../io/image-decode';
import { DEFAULT_IMAGE_EXTENSIONS, naturalCompare } from './targets';
import { confusion, diceFromCounts, iouFromCounts, persegMiouDetailed, sequenceMeans } from '../metrics';
import { requireDir } from './args';
import { UsageError } from './exit-codes';
import type { CliIO } from './io';

export interface EvalOptions {
  pred: string;
  gt: string;
  classesFromDirs?: boolean;
  emptyEmpty?: 0 | 1;
}

export interface ImageScore {
  name: string;
  class?: string;
  pred: string;
  gt: string;
  width: number;
  height: number;
  tp: number;
  fp: number;
  fn: number;
  dice: number;
  iou: number;
}

export interface ClassScore {
  class: string;
  images: number;
  meanDice: number;
  meanIou: number;
  /** ΣI/ΣU over the class's images (PerSeg), 0..1. */
  pooledIou: number;
}

export interface EvalResult {
  pred: string;
  gt: string;
  emptyEmpty: 0 | 1;
  images: ImageScore[];
  mean: { images: number; dice: number; iou: number };
  classes?: ClassScore[];
  /** PerSeg mIoU ×100: mean over classes of the pooled class IoU. */
  persegMiou?: number;
  /** Sequence protocol: mean over classes of the per-class means. */
  sequenceMean?: { dice: number; iou: number };
  unmatched: { gt: string[]; pred: string[] };
  /** Pairs not scored because a file could not be read: the file and why. */
  unreadable: { file: string; error: string }[];
}

const IMAGE_EXT = new Set(DEFAULT_IMAGE_EXTENSIONS);

async function listFiles(dir: string): Promise<string[]> {
  const entries = await fsp.readdir(dir, { withFileTypes: true });
  return entries
    .filter(
      (d) =>
        (d.isFile() || d.isSymbolicLink()) &&
        !d.name.startsWith('.') &&
        IMAGE_EXT.has(path.extname(d.name).toLowerCase()),
    )
    .map((d) => d.name)
    .sort(naturalCompare);
}

async function listDirs(dir: string): Promise<string[]> {
  const entries = await fsp.readdir(dir, { withFileTypes: true });
  return entries
    .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
    .map((d) => d.name)
    .sort(naturalCompare);
}

const stem = (f: string) => path.basename(f, path.extname(f));

/** Pairs one ground-truth folder with one prediction folder (either may be missing). */
async function pairFolder(gtDir: string, predDir: string | undefined, cls: string | undefined) {
  const gtFiles = await listFiles(gtDir);
  const predFiles = predDir ? await listFiles(predDir) : [];
  const predSet = new Set(predFiles);
  const used = new Set<string>();
  const pairs: { name: string; gt: string; pred: string; cls?: string }[] = [];
  const unmatchedGt: string[] = [];
  const byStem = new Map<string, string>();
  for (const g of gtFiles) {
    const s = stem(g);
    // Two ground truths with one stem (a.png, a.jpg) would claim the same prediction.
    if (byStem.has(s))
      throw new UsageError(
        `--gt: '${path.join(gtDir, byStem.get(s)!)}' and '${path.join(gtDir, g)}' have the same name; pairing by name is ambiguous`,
      );
    byStem.set(s, g);
    const candidates = [`${s}.mask.png`, `${s}.png`];
    const hit = candidates.find((c) => predSet.has(c) && !used.has(c));
    if (!hit || !predDir) {
      unmatchedGt.push(path.join(gtDir, g));
      continue;
    }
    used.add(hit);
    pairs.push({
      name: s,
      gt: path.join(gtDir, g),
      pred: path.join(predDir, hit),
      ...(cls !== undefined ? { cls } : {}),
    });
  }
  // Overlays are pictures for people, not predictions.
  const unmatchedPred = predFiles
    .filter((p) => !used.has(p) && !p.endsWith('.overlay.png'))
    .map((p) => path.join(predDir!, p));
  return { pairs, unmatchedGt, unmatchedPred };
}

export async function evaluate(o: EvalOptions): Promise<EvalResult> {
  requireDir('--pred', o.pred);
  requireDir('--gt', o.gt);
  const emptyEmpty = o.emptyEmpty ?? 1;
  const rule = { emptyEmpty };
  const pairs: { name: string; gt: string; pred: string; cls?: string }[] = [];
  const unmatched = { gt: [] as string[], pred: [] as string[] };
  if (o.classesFromDirs) {
    const classes = await listDirs(o.gt);
    if (classes.length === 0)
      throw new UsageError(
        `--gt: '${o.gt}' has no subdirectories, but --classes-from-dirs expects one per class`,
      );
    const predClasses = new Set(await listDirs(o.pred));
    for (const c of classes) {
      const r = await pairFolder(
        path.join(o.gt, c),
        predClasses.has(c) ? path.join(o.pred, c) : undefined,
        c,
      );
      pairs.push(...r.pairs);
      unmatched.gt.push(...r.unmatchedGt);
      unmatched.pred.push(...r.unmatchedPred);
    }
  } else {
    const r = await pairFolder(o.gt, o.pred, undefined);
    pairs.push(...r.pairs);
    unmatched.gt.push(...r.unmatchedGt);
    unmatched.pred.push(...r.unmatchedPred);
  }
  if (pairs.length === 0)
    throw new UsageError(
      `--pred: no prediction in '${o.pred}' matches a ground-truth file in '${o.gt}' (expected <name>.mask.png or <name>.png for each <name>.png${
        o.classesFromDirs ? ', in subdirectories named like the classes' : ''
      })`,
    );

  const images: ImageScore[] = [];
  const unreadable: { file: string; error: string }[] = [];
  // An unreadable file costs its pair, not the run: the rest is scored and the bad files
  // are listed (exit 1). A ground truth that is no mask at all — a photo or CT slice
  // given as --gt — is a usage error: scoring it would report a meaningless Dice.
  const read = async (file: string, expected?: { width: number; height: number }) => {
    try {
      return await readMaskInfo(file, expected);
    } catch (err) {
      if (err instanceof P2SamError && err.code === 'IMAGE_READ_FAILED') {
        unreadable.push({ file, error: err.message });
        return undefined;
      }
      throw err;
    }
  };
  for (const p of pairs) {
    const gt = await read(p.gt);
    if (!gt) continue;
    if (gt.levels > MAX_MASK_LEVELS)
      throw new UsageError(
        `--gt: '${p.gt}' is not a binary mask or a label map (more than ${MAX_MASK_LEVELS} distinct values): it looks like an image; point --gt at the ground-truth masks`,
      );
    // readMask names both sizes and the file when the prediction does not fit.
    const pred = await read(p.pred, { width: gt.width, height: gt.height });
    if (!pred) continue;
    const c = confusion(pred, gt);
    images.push({
      name: p.name,
      ...(p.cls !== undefined ? { class: p.cls } : {}),
      pred: p.pred,
      gt: p.gt,
      width: gt.width,
      height: gt.height,
      tp: c.tp,
      fp: c.fp,
      fn: c.fn,
      dice: diceFromCounts(c, rule),
      iou: iouFromCounts(c, rule),
    });
  }
  if (images.length === 0)
    throw new P2SamError(
      'IMAGE_READ_FAILED',
      `no pair could be scored: ${unreadable.map((u) => u.error).join('; ')}`,
    );
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const result: EvalResult = {
    pred: o.pred,
    gt: o.gt,
    emptyEmpty,
    images,
    mean: {
      images: images.length,
      dice: mean(images.map((i) => i.dice)),
      iou: mean(images.map((i) => i.iou)),
    },
    unmatched,
    unreadable,
  };
  if (o.classesFromDirs) {
    const perseg = persegMiouDetailed(
      images.map((i) => ({ cls: i.class!, intersection: i.tp, union: i.tp + i.fp + i.fn })),
      rule,
    );
    const dice = sequenceMeans(images.map((i) => ({ sequence: i.class!, value: i.dice })));
    const iou = sequenceMeans(images.map((i) => ({ sequence: i.class!, value: i.iou })));
    result.classes = [...dice.perSequence.keys()].map((c) => ({
      class: c,
      images: images.filter((i) => i.class === c).length,
      meanDice: dice.perSequence.get(c)!,
      meanIou: iou.perSequence.get(c)!,
      pooledIou: perseg.perClass.get(c)!,
    }));
    result.persegMiou = perseg.miou;
    result.sequenceMean = { dice: dice.mean, iou: iou.mean };
  }
  return result;
}

function table(rows: string[][], rightAlign: boolean[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => (rightAlign[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function formatEval(r: EvalResult): string {
  const f = (x: number) => x.toFixed(4);
  const hasClass = r.classes !== undefined;
  const rows = [[...(hasClass ? ['class'] : []), 'image', 'Dice', 'IoU']];
  for (const i of r.images) rows.push([...(hasClass ? [i.class!] : []), i.name, f(i.dice), f(i.iou)]);
  const align = [...(hasClass ? [false] : []), false, true, true];
  const out = [table(rows, align), ''];
  out.push(
    `mean over ${r.images.length} image${r.images.length === 1 ? '' : 's'}: Dice ${f(r.mean.dice)}, IoU ${f(r.mean.iou)}`,
  );
  if (r.classes) {
    out.push('');
    const crow = [['class', 'images', 'mean Dice', 'mean IoU', 'pooled IoU']];
    for (const c of r.classes)
      crow.push([c.class, String(c.images), f(c.meanDice), f(c.meanIou), f(c.pooledIou)]);
    out.push(table(crow, [false, true, true, true, true]));
    out.push('');
    out.push(`PerSeg mIoU (pooled per class, ${r.classes.length} classes): ${r.persegMiou!.toFixed(2)}`);
    out.push(
      `mean over classes of per-class means: Dice ${f(r.sequenceMean!.dice)}, IoU ${f(r.sequenceMean!.iou)}`,
    );
  }
  if (r.unmatched.gt.length || r.unmatched.pred.length) {
    out.push('');
    if (r.unmatched.gt.length) out.push(`not scored, no prediction: ${r.unmatched.gt.join(', ')}`);
    if (r.unmatched.pred.length) out.push(`not scored, no ground truth: ${r.unmatched.pred.join(', ')}`);
  }
  if (r.unreadable.length) {
    out.push('');
    out.push(`not scored, unreadable: ${r.unreadable.map((u) => u.file).join(', ')}`);
  }
  out.push(`(both masks empty counts as ${r.emptyEmpty})`);
  return `${out.join('\n')}\n`;
}

export function evalCommand(io: CliIO, setExit: (code: number) => void): Command {
  return new Command('eval')
    .description(
      'Dice / IoU per image and their means; PerSeg mIoU and per-sequence means with --classes-from-dirs',
    )
    .requiredOption(
      '--pred <dir>',
      'predicted masks: <name>.mask.png (as p2sam segment writes) or <name>.png',
    )
    .requiredOption('--gt <dir>', 'ground-truth masks <name>.png (any non-zero pixel is the object)')
    .option('--classes-from-dirs', 'one subdirectory per class / sequence in both --gt and --pred')
    .addOption(
      new Option(
        '--empty-empty <value>',
        'score when prediction and ground truth are both empty (authors: 0)',
      )
        .choices(['0', '1'])
        .default('1'),
    )
    .option('--json', 'print the result as one JSON object on stdout')
    .action(async (flags: Record<string, unknown>) => {
      const r = await evaluate({
        pred: flags.pred as string,
        gt: flags.gt as string,
        classesFromDirs: flags.classesFromDirs === true,
        emptyEmpty: flags.emptyEmpty === '0' ? 0 : 1,
      });
      io.stdout.write(flags.json ? `${JSON.stringify(r)}\n` : formatEval(r));
      for (const u of r.unreadable) io.stderr.write(`p2sam: not scored: ${u.error} [IMAGE_READ_FAILED]\n`);
      setExit(r.unreadable.length ? 1 : 0);
    });
}
