/**
 * `p2sam segment`: the command-line surface of the segment run (segment-run.ts). It maps
 * the flags onto SegmentRunOptions and owns SIGINT: the first Ctrl-C aborts the run,
 * which abandons the target in flight and writes report.json; a second one writes the
 * report synchronously from what the run has so far and exits at once.
 */
import { constants as osConstants } from 'node:os';
import { Command, Option } from 'commander';
import { P2SamError } from '../errors';
import type * as opt from '../options';
import { intParser, numberParser, parseRange, parseWindow } from './args';
import { EXIT_INTERRUPTED } from './exit-codes';
import type { CliIO } from './io';
import { emergencyReport, type LiveRun } from './segment-report';
import { runSegment } from './segment-run';

const INTERRUPT_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export function segmentCommand(io: CliIO, setExit: (code: number) => void): Command {
  return new Command('segment')
    .description('segment target images (files, directories, globs) with one reference image and mask')
    .requiredOption('--encoder <file>', 'SAM image encoder (.onnx)')
    .requiredOption('--decoder <file>', 'SAM mask decoder (.onnx)')
    .requiredOption('--ref-image <file>', 'reference image')
    .requiredOption('--ref-mask <file>', 'reference mask (any non-zero pixel is the object)')
    .requiredOption('-o, --out <dir>', 'output directory (created if missing)')
    .argument('<targets...>', 'target images: files, directories (natural order) or globs')
    .addOption(
      new Option('--mode <mode>', 'negative prompts: one point (natural) or background parts (medical)')
        .choices(['natural', 'medical'])
        .default('natural'),
    )
    .option('--parts <range>', 'candidate part counts, e.g. 1..5 or 3 (default 1..5)', parseRange)
    .option(
      '--negatives <range>',
      'natural: 0 or 1 (default 1); medical: background part counts (default 1..1)',
      parseRange,
    )
    .addOption(
      new Option('--solver <solver>', 'optimal-transport solver of the retrieval')
        .choices(['exact', 'sinkhorn'])
        .default('exact'),
    )
    .addOption(
      new Option('--weights <weights>', 'target point weights in the retrieval')
        .choices(['uniform', 'sigmoid'])
        .default('uniform'),
    )
    .option(
      '--epsilon <x>',
      'Sinkhorn regularisation relative to the mean transport cost (default 0.01)',
      numberParser(0, 10, true),
    )
    .option('--max-iterations <n>', 'Sinkhorn iteration cap (default 1000)', intParser(1, 1_000_000))
    .option(
      '--threads <n>',
      'threads for ONNX Runtime and the native maths (default: all cores)',
      intParser(1, 1024),
    )
    .addOption(
      new Option('--normalization <n>', 'encoder input normalisation')
        .choices(['sam', 'medsam'])
        .default('sam'),
    )
    .addOption(
      new Option('--device <device>', 'where the P2SAM maths and (by default) the models run')
        .choices(['auto', 'cpu', 'cuda'])
        .default('auto'),
    )
    .addOption(
      new Option(
        '--model-device <device>',
        'where the ONNX models run, when it should differ from --device',
      ).choices(['auto', 'cpu', 'cuda']),
    )
    .option(
      '--gpu-stages <list>',
      'with the maths on CUDA: comma-separated stages using the GPU kernels, of points,kmeans,scoring (default points)',
      (s: string) =>
        s
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean),
    )
    .option('--seed <n>', 'k-means seed (default 0)', intParser(0, Number.MAX_SAFE_INTEGER))
    .option('--restarts <n>', 'k-means restarts per part count (default 10)', intParser(1, 100))
    .addOption(
      new Option(
        '--kmeans-seeding <seeding>',
        "k-means seeding: scikit-learn's KMeans draws or the project's own streams",
      )
        .choices(['sklearn', 'p2sam'])
        .default('sklearn'),
    )
    .option(
      '--parallel-candidates <n>',
      'candidates whose decoder cascades run at once (default 1)',
      intParser(1, 16),
    )
    .option(
      '--window <lo,hi>',
      'intensity window for 16-bit images (CT), in sample units, e.g. 0,4095',
      parseWindow,
    )
    .option('--no-overlay', 'do not write <name>.overlay.png')
    .option('--json', 'print one JSON line per target on stdout (progress stays on stderr)')
    .option('-q, --quiet', 'no progress on stderr')
    .action(async (targets: string[], flags: Record<string, unknown>) => {
      const controller = new AbortController();
      const live: LiveRun = {};
      let interrupts = 0;
      // SIGTERM and SIGHUP (systemd, docker stop, Kubernetes, a closed terminal) end the
      // run like Ctrl-C: abandon the target in flight, write an interrupted report. The
      // exit code is the shell's 128 + signal number.
      const onSignal = (sig: NodeJS.Signals) => {
        interrupts++;
        const code = 128 + (osConstants.signals[sig] ?? EXIT_INTERRUPTED - 128);
        if (interrupts === 1) {
          controller.abort(
            Object.assign(new P2SamError('ABORTED', `interrupted by ${sig}`), { exitCode: code }),
          );
        } else {
          emergencyReport(live);
          process.exit(code);
        }
      };
      const handlers = INTERRUPT_SIGNALS.map((sig) => [sig, () => onSignal(sig)] as const);
      for (const [sig, h] of handlers) process.on(sig, h);
      try {
        const r = await runSegment(
          {
            encoder: flags.encoder as string,
            decoder: flags.decoder as string,
            refImage: flags.refImage as string,
            refMask: flags.refMask as string,
            out: flags.out as string,
            targets,
            mode: flags.mode as opt.Mode,
            parts: flags.parts as { min: number; max: number } | undefined,
            negatives: flags.negatives as { min: number; max: number } | undefined,
            solver: flags.solver as opt.RetrievalOptions['solver'],
            weights: flags.weights as opt.RetrievalOptions['weights'],
            epsilon: flags.epsilon as number | undefined,
            maxIterations: flags.maxIterations as number | undefined,
            threads: flags.threads as number | undefined,
            normalization: flags.normalization as opt.Normalization,
            device: flags.device as opt.Device,
            modelDevice: flags.modelDevice as opt.Device | undefined,
            gpuStages: flags.gpuStages as opt.GpuStage[] | undefined,
            seed: flags.seed as number | undefined,
            restarts: flags.restarts as number | undefined,
            kmeansSeeding: flags.kmeansSeeding as opt.KMeansSeeding,
            parallelCandidates: flags.parallelCandidates as number | undefined,
            window: flags.window as [number, number] | undefined,
            overlay: flags.overlay as boolean,
            json: flags.json === true,
            quiet: flags.quiet === true,
            argv: process.argv.slice(2),
          },
          io,
          controller.signal,
          live,
        );
        setExit(r.exitCode);
      } finally {
        for (const [sig, h] of handlers) process.off(sig, h);
      }
    });
}
