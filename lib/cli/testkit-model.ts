/**
 * `p2sam testkit-model --out DIR`: writes the testkit encoder/decoder pair
 * (docs/testkit.md), small real ONNX models with documented behaviour, so the CLI can be
 * tried and tested without SAM weights.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { TESTKIT_ENCODER_DATA_FILE, writeTestkitModel } from '../testkit';
import { outputDir } from './args';
import type { CliIO } from './io';

export function testkitModelCommand(io: CliIO, setExit: (code: number) => void): Command {
  return new Command('testkit-model')
    .description('write the testkit encoder/decoder pair (small real ONNX models, no SAM weights needed)')
    .requiredOption('-o, --out <dir>', 'output directory (created if missing)')
    .addOption(
      new Option('--decoder <variant>', 'decoder variant').choices(['basic', 'sam-sized']).default('basic'),
    )
    .option(
      '--external-data',
      'store the encoder weights in testkit-encoder.onnx.data beside the .onnx, as ViT-H exports do',
    )
    .option('--json', 'print the written paths as one JSON object')
    .action(async (flags: Record<string, unknown>) => {
      const out = outputDir('--out', flags.out as string);
      const external = flags.externalData === true;
      const r = await writeTestkitModel(out, {
        decoder: flags.decoder as 'basic' | 'sam-sized',
        externalData: external,
      });
      const data = path.join(out, TESTKIT_ENCODER_DATA_FILE);
      const written = {
        encoder: r.encoder,
        decoder: r.decoder,
        ...(external && existsSync(data) ? { encoderData: data } : {}),
      };
      if (flags.json) io.stdout.write(`${JSON.stringify(written)}\n`);
      else
        io.stdout.write(
          `encoder: ${written.encoder}${written.encoderData ? ` (+ ${written.encoderData})` : ''}\ndecoder: ${written.decoder}\n`,
        );
      setExit(0);
    });
}
