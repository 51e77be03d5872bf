#!/usr/bin/env node
/**
 * The `p2sam` command: segment, eval, demo, testkit-model, inspect, export, optimize,
 * convert, volume, eval-volume, worker, enqueue.
 *
 * Exit codes (exit-codes.ts): 0 success, 1 runtime failure, 2 usage/validation error,
 * 130 interrupted. The exit status is set through `process.exitCode` rather than
 * `process.exit()` so stdout (often a pipe) is flushed before the process ends.
 */
import { Command, CommanderError } from 'commander';
import { convertCommand } from './convert';
import { demoCommand } from './demo';
import { evalCommand } from './eval';
import { exportCommand } from './export';
import { enqueueCommand } from './enqueue';
import { describeError, exitCodeOf } from './exit-codes';
import { inspectCommand } from './inspect';
import { packageVersion, type CliIO } from './io';
import { optimizeCommand } from './optimize';
import { segmentCommand } from './segment';
import { testkitModelCommand } from './testkit-model';
import { volumeCommand } from './volume';
import { evalVolumeCommand } from './eval-volume';
import { workerCommand } from './worker';

export function buildProgram(io: CliIO, setExit: (code: number) => void): Command {
  const program = new Command('p2sam')
    .description(
      'P2SAM: part-aware prompted Segment Anything — one reference image and mask in, masks for new images out',
    )
    .version(packageVersion(), '-V, --version')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .showHelpAfterError('(add --help for usage)')
    .showSuggestionAfterError(true);
  for (const cmd of [
    segmentCommand(io, setExit),
    evalCommand(io, setExit),
    demoCommand(io, setExit),
    testkitModelCommand(io, setExit),
    inspectCommand(io, setExit),
    exportCommand(io, setExit),
    convertCommand(io, setExit),
    volumeCommand(io, setExit),
    evalVolumeCommand(io, setExit),
    optimizeCommand(io, setExit),
    workerCommand(io, setExit),
    enqueueCommand(io, setExit),
  ]) {
    // addCommand() does not pass settings down the way command() does; copy them so
    // usage errors in subcommands also throw instead of calling process.exit().
    cmd.copyInheritedSettings(program);
    program.addCommand(cmd);
  }
  return program;
}

export async function main(
  argv: string[],
  io: CliIO = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  let code = 0;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    // Commander has already printed its own usage message.
    if (!(err instanceof CommanderError)) io.stderr.write(`p2sam: error: ${describeError(err)}\n`);
    const reportPath = (err as { reportPath?: unknown } | null)?.reportPath;
    if (typeof reportPath === 'string') io.stderr.write(`p2sam: the run is recorded in ${reportPath}\n`);
    return exitCodeOf(err);
  }
}

if (require.main === module) {
  // A closed pipe (`p2sam segment --json … | head -1`) is the reader's choice, not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(
        `p2sam: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      process.exitCode = 1;
    },
  );
}
