/**
 * `p2sam demo --volume`: the volume pipeline offline. Writes a two-visit phantom study as
 * DICOM (CT series + RTSTRUCT ground truth per visit, phantom-study.ts), the testkit
 * model, then runs `p2sam volume` on it (planning visit → follow-up visit, the same code
 * path as the command) and prints the 3-D Dice against the follow-up's ground truth.
 * Exits 1 when the Dice is below 0.85: then something in this build is wrong.
 */
import * as path from 'node:path';
import { readFileSync } from 'node:fs';
import { writeTestkitModel } from '../testkit';
import { writePhantomStudy } from '../volume/phantom-dicom';
import { outputDir } from './args';
import { EXIT_FAILURE, EXIT_OK } from './exit-codes';
import type { CliIO } from './io';
import { runVolume } from './volume';

export const VOLUME_DEMO_MIN_DICE = 0.85;

export async function runVolumeDemo(
  o: { out: string; size?: number; seed?: number; threads?: number; json?: boolean; quiet?: boolean },
  io: CliIO,
): Promise<number> {
  const out = outputDir('--out', o.out);
  const say = (s: string) => (o.json ? undefined : io.stdout.write(`${s}\n`));
  const size = o.size ?? 256;
  const model = await writeTestkitModel(path.join(out, 'model'));
  const s = writePhantomStudy(path.join(out, 'study'), { size, seed: o.seed ?? 1 });
  say(`model:   ${model.encoder}, ${model.decoder}`);
  say(
    `study:   ${s.reference.seriesDir} (${s.study.reference.volume.slices} slices, ${s.study.reference.spec.sliceMm} mm) + ${s.reference.rtstruct}`,
  );
  say(
    `         ${s.target.seriesDir} (${s.study.target.volume.slices} slices, ${s.study.target.spec.sliceMm} mm, table moved ${s.study.zOffsetMm} mm, own frame of reference)`,
  );
  const results = path.join(out, 'results');
  const code = await runVolume(
    {
      encoder: model.encoder,
      decoder: model.decoder,
      out: results,
      window: 'mediastinum',
      formats: ['rtstruct', 'png'],
      mode: 'medical',
      consistency: 'components',
      allowOtherPatient: false,
      ...(o.threads ? { threads: o.threads } : {}),
      json: false,
      quiet: o.quiet === true,
    },
    [
      {
        refSeries: s.reference.seriesDir,
        refRtstruct: s.reference.rtstruct,
        roi: s.roi,
        targetSeries: s.target.seriesDir,
        truthRtstruct: s.target.rtstruct,
      },
    ],
    false,
    o.json ? { stdout: io.stderr, stderr: io.stderr } : io,
  );
  const report = JSON.parse(readFileSync(path.join(results, 'report.json'), 'utf8'));
  const m = report.metrics;
  const passed = code === EXIT_OK && m.dice >= VOLUME_DEMO_MIN_DICE;
  const summary = {
    out: path.resolve(out),
    dice: m.dice,
    hd95Mm: m.hd95Mm,
    meanSurfaceDistanceMm: m.meanSurfaceDistanceMm,
    predictedMl: m.predictedMl,
    truthMl: m.truthMl,
    falsePositiveSlices: m.falsePositiveSlices.length,
    falseNegativeSlices: m.falseNegativeSlices.length,
    zOffsetMm: report.alignment.offsetMm,
    trueZOffsetMm: s.study.zOffsetMm,
    rtstruct: report.outputs.rtstruct,
    review: report.outputs.review,
    passed,
  };
  if (o.json) io.stdout.write(`${JSON.stringify(summary)}\n`);
  else
    io.stdout.write(
      `\ndemo --volume: 3-D Dice ${m.dice.toFixed(4)}, HD95 ${m.hd95Mm?.toFixed(2)} mm, mean surface distance ${m.meanSurfaceDistanceMm?.toFixed(2)} mm, ` +
        `${m.predictedMl.toFixed(1)} ml vs ${m.truthMl.toFixed(1)} ml true; false-positive slices ${m.falsePositiveSlices.length}, false-negative ${m.falseNegativeSlices.length}; ` +
        `z offset ${report.alignment.offsetMm.toFixed(2)} mm (true ${s.study.zOffsetMm}); RTSTRUCT ${report.outputs.rtstruct}, review ${report.outputs.review}\n`,
    );
  if (!passed)
    io.stderr.write(
      `p2sam: demo --volume: 3-D Dice ${m.dice.toFixed(4)} is below ${VOLUME_DEMO_MIN_DICE}; this build does not behave as expected\n`,
    );
  return code !== EXIT_OK ? code : passed ? EXIT_OK : EXIT_FAILURE;
}
