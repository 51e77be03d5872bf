/**
 * `p2sam optimize MODEL.onnx --out LEAN.onnx`: writes a copy of a SAM ViT image encoder
 * whose global-attention blocks compute their scores a few heads at a time (lib/onnx/
 * lean-attention.ts) — the same outputs in a fraction of the peak memory.
 *
 * Exit status: 0 when a lean copy was written; 1 when the graph was not recognised (the
 * reason is printed and nothing is written); 2 for usage errors (missing file, --out equal
 * to the input, --out outside the directory of a model with external-data weights).
 */
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { DEFAULT_LEAN_CHUNKS } from '../onnx/lean-attention';
import { leanAttentionOffThread } from '../onnx/lean-attention-thread';
import { requireFile } from './args';
import { EXIT_FAILURE, EXIT_OK, UsageError } from './exit-codes';
import type { CliIO } from './io';

function positiveInt(flag: string, min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min)
      throw new UsageError(`${flag}: expected an integer ≥ ${min}, received ${JSON.stringify(v)}`);
    return n;
  };
}

export function optimizeCommand(io: CliIO, setExit: (code: number) => void): Command {
  return new Command('optimize')
    .description(
      'rewrite a SAM ViT encoder .onnx so global attention runs in chunks: same outputs, far lower peak memory',
    )
    .argument('<model>', 'the encoder .onnx file')
    .requiredOption('--out <file>', 'where to write the lean encoder')
    .option(
      '--chunks <n>',
      'pieces the batch·heads axis of each global block is cut into',
      positiveInt('--chunks', 2),
      DEFAULT_LEAN_CHUNKS,
    )
    .option('--json', 'print the result as one JSON line')
    .action(async (model: string, flags: { out: string; chunks: number; json?: boolean }) => {
      requireFile('MODEL', model);
      const out = path.resolve(flags.out);
      if (out === path.resolve(model))
        throw new UsageError('--out: must differ from the input model (the original is kept)');
      const r = await leanAttentionOffThread({ path: model }, { chunks: flags.chunks });
      const summary = {
        model,
        out: r.model ? flags.out : null,
        rewritten: r.rewritten,
        chunks: r.chunks,
        ...(r.reason ? { reason: r.reason } : {}),
        sites: r.sites,
      };
      if (!r.model) {
        if (flags.json) io.stdout.write(`${JSON.stringify(summary)}\n`);
        io.stderr.write(`p2sam optimize: ${model} left unchanged, nothing written: ${r.reason}\n`);
        setExit(EXIT_FAILURE);
        return;
      }
      if (r.externalData && path.dirname(out) !== path.dirname(path.resolve(model)))
        throw new UsageError(
          `--out: ${model} keeps its weights in external-data files referenced relative to its directory; write the lean copy into ${path.dirname(path.resolve(model))}`,
        );
      // Write beside the target and rename, so a failure never leaves a half-written model.
      const partial = `${out}.partial-${process.pid}`;
      writeFileSync(partial, r.model);
      renameSync(partial, out);
      if (flags.json) io.stdout.write(`${JSON.stringify(summary)}\n`);
      else {
        const skipped = r.sites.filter((s) => s.skipped).length;
        const others = skipped
          ? `; ${skipped} other attention site${skipped === 1 ? '' : 's'} left as they were (windowed)`
          : '';
        io.stdout.write(
          `${flags.out}: ${r.rewritten} global-attention block${r.rewritten === 1 ? '' : 's'} in ${r.chunks} chunks${others}\n`,
        );
      }
      setExit(EXIT_OK);
    });
}
