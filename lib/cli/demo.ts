/**
 * `p2sam demo`: the whole pipeline, offline, in a few seconds.
 *
 * 1. writes the testkit model pair (docs/testkit.md) into OUT/model;
 * 2. renders a synthetic sequence (testkit/scenes.ts): a three-part object moving and
 *    growing over a textured background, frames in OUT/frames, ground truth in OUT/gt;
 * 3. segments frames 1..N-1 with frame 0 and its mask as the reference, exactly as
 *    `p2sam segment` does (same code path), into OUT/results;
 * 4. evaluates OUT/results against OUT/gt as `p2sam eval` does and prints the Dice.
 *
 * The testkit encoder sees only 16-px patch colours, so the result is precise only to
 * about one feature cell at part edges; at the default 480×360 the object is large
 * enough for the mean Dice to stay well above 0.9. The demo exits 1 when it does not,
 * because then something in this build is wrong.
 */
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { Command } from 'commander';
import { writeImagePng, writeMaskPng } from '../io/image';
import { writeTestkitModel } from '../testkit';
import { sequence } from '../testkit/scenes';
import { intParser, outputDir, parseRange, parseSize } from './args';
import { evaluate, formatEval, type EvalResult } from './eval';
import { EXIT_FAILURE, EXIT_OK } from './exit-codes';
import type { CliIO } from './io';
import { runSegment, type SegmentRunSummary } from './segment-run';
import { runVolumeDemo } from './volume-demo';

/** Swallows the per-frame lines of `demo --json --quiet`. */
const discard = new Writable({ write: (_chunk, _enc, done) => done() }) as unknown as NodeJS.WriteStream;

/** The Dice the demo promises; below it the build is considered broken. */
export const DEMO_MIN_DICE = 0.9;

export interface DemoOptions {
  out: string;
  frames?: number;
  width?: number;
  height?: number;
  parts?: { min: number; max: number };
  threads?: number;
  seed?: number;
  json?: boolean;
  quiet?: boolean;
}

export interface DemoResult {
  out: string;
  frames: number;
  width: number;
  height: number;
  reference: { image: string; mask: string };
  report: string;
  meanDice: number;
  meanIou: number;
  minDice: number;
  passed: boolean;
  perFrame: { name: string; dice: number; iou: number; parts?: number }[];
  eval: EvalResult;
}

export async function runDemo(o: DemoOptions, io: CliIO): Promise<{ result: DemoResult; exitCode: number }> {
  const out = outputDir('--out', o.out);
  const n = o.frames ?? 8;
  const width = o.width ?? 480;
  const height = o.height ?? 360;
  const seed = o.seed ?? 7;
  // With --json, stdout carries only the final object; the step-by-step lines go to stderr.
  const say = (s: string) =>
    o.json ? (o.quiet ? undefined : io.stderr.write(`${s}\n`)) : io.stdout.write(`${s}\n`);

  const model = await writeTestkitModel(path.join(out, 'model'));
  say(`model:   ${model.encoder}, ${model.decoder}`);

  const frames = sequence(n, { width, height, seed });
  const frameFiles: string[] = [];
  const gtFiles: string[] = [];
  await Promise.all(
    frames.map(async (f, i) => {
      frameFiles[i] = path.join(out, 'frames', `frame${i}.png`);
      gtFiles[i] = path.join(out, 'gt', `frame${i}.png`);
      await writeImagePng(frameFiles[i]!, f.image);
      await writeMaskPng(gtFiles[i]!, f.mask);
    }),
  );
  say(
    `frames:  ${n} × ${width}×${height} in ${path.join(out, 'frames')} (ground truth in ${path.join(out, 'gt')})`,
  );
  say(`segmenting frames 1..${n - 1} with frame0 as the reference:`);

  const results = path.join(out, 'results');
  const seg: SegmentRunSummary = await runSegment(
    {
      encoder: model.encoder,
      decoder: model.decoder,
      refImage: frameFiles[0]!,
      refMask: gtFiles[0]!,
      targets: frameFiles.slice(1),
      out: results,
      parts: o.parts ?? { min: 1, max: 5 },
      ...(o.threads !== undefined ? { threads: o.threads } : {}),
      quiet: o.quiet,
    },
    { stdout: o.json ? (o.quiet ? discard : io.stderr) : io.stdout, stderr: io.stderr },
  );
  const ev = await evaluate({ pred: results, gt: path.join(out, 'gt') });
  if (!o.json) {
    io.stdout.write(`\n${formatEval(ev)}`);
  }
  const minDice = Math.min(...ev.images.map((i) => i.dice));
  const parts = new Map((seg.report?.targets ?? []).map((t) => [t.name, t.parts]));
  const result: DemoResult = {
    out: path.resolve(out),
    frames: n,
    width,
    height,
    reference: { image: frameFiles[0]!, mask: gtFiles[0]! },
    report: seg.reportPath ?? '',
    meanDice: ev.mean.dice,
    meanIou: ev.mean.iou,
    minDice,
    passed: ev.mean.dice >= DEMO_MIN_DICE && seg.exitCode === EXIT_OK,
    perFrame: ev.images.map((i) => ({ name: i.name, dice: i.dice, iou: i.iou, parts: parts.get(i.name) })),
    eval: ev,
  };
  if (o.json) io.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    io.stdout.write(
      `\ndemo: mean Dice ${ev.mean.dice.toFixed(4)} over ${ev.images.length} target frames (min ${minDice.toFixed(4)}); ` +
        `masks and overlays in ${results}\n`,
    );
  }
  if (!result.passed)
    io.stderr.write(
      `p2sam: demo: mean Dice ${ev.mean.dice.toFixed(4)} is below ${DEMO_MIN_DICE}; this build does not behave as expected\n`,
    );
  return {
    result,
    exitCode: seg.exitCode !== EXIT_OK ? seg.exitCode : result.passed ? EXIT_OK : EXIT_FAILURE,
  };
}

export function demoCommand(io: CliIO, setExit: (code: number) => void): Command {
  return new Command('demo')
    .description(
      'offline demo: testkit model + synthetic sequence → segment → Dice (no downloads, a few seconds)',
    )
    .option('-o, --out <dir>', 'output directory', 'p2sam-demo')
    .option(
      '--frames <n>',
      'frames in the sequence, the first is the reference (default 8)',
      intParser(2, 500),
    )
    .option('--size <WxH>', 'frame size (default 480x360)', parseSize)
    .option('--parts <range>', 'candidate part counts (default 1..5)', parseRange)
    .option('--threads <n>', 'threads (default: all cores)', intParser(1, 1024))
    .option('--seed <n>', 'seed of the synthetic scene (default 7)', intParser(0, 2 ** 31 - 1))
    .option('--json', 'print the result as one JSON object on stdout')
    .option('-q, --quiet', 'no progress on stderr')
    .option(
      '--volume',
      'the volume pipeline instead: a two-visit DICOM CT phantom, planning visit → follow-up visit, 3-D Dice',
    )
    .action(async (flags: Record<string, unknown>) => {
      if (flags.volume === true) {
        const sz = flags.size as { width: number; height: number } | undefined;
        setExit(
          await runVolumeDemo(
            {
              out: flags.out as string,
              size: sz?.width,
              seed: flags.seed as number | undefined,
              threads: flags.threads as number | undefined,
              json: flags.json === true,
              quiet: flags.quiet === true,
            },
            io,
          ),
        );
        return;
      }
      const size = flags.size as { width: number; height: number } | undefined;
      const { exitCode } = await runDemo(
        {
          out: flags.out as string,
          frames: flags.frames as number | undefined,
          width: size?.width,
          height: size?.height,
          parts: flags.parts as { min: number; max: number } | undefined,
          threads: flags.threads as number | undefined,
          seed: flags.seed as number | undefined,
          json: flags.json === true,
          quiet: flags.quiet === true,
        },
        io,
      );
      setExit(exitCode);
    });
}
