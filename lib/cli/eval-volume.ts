/**
 * `p2sam eval-volume`: 3-D metrics of a predicted mask against a ground truth on one
 * DICOM series, each given as RTSTRUCT, DICOM SEG or NIfTI labelmap (told apart by the
 * file: .nii/.nii.gz, or the DICOM SOP class).
 *
 *   p2sam eval-volume --series CT/ --pred rtstruct.dcm --truth RS.dcm --roi GTV [--json]
 *
 * Prints 3-D Dice, HD95 and mean surface distance (mm, the series' own spacing), both
 * volumes (ml), false-positive/negative slices and per-slice Dice; `p2sam eval` stays the
 * 2-D (PNG mask) evaluator.
 */
import { Command } from 'commander';
import { P2SamError } from '../errors';
import { readDicomFile, SOP_CLASS, text } from '../clinical/dicom-file';
import { readDicomSeries } from '../clinical/dicom-series';
import { readNiftiLabelmap } from '../clinical/nifti';
import { readRtstruct } from '../clinical/rtstruct-read';
import { readDicomSeg } from '../clinical/seg';
import type { MaskVolume, Volume } from '../clinical/volume';
import { volumeMetrics, type VolumeMetrics } from '../volume/metrics3d';
import { intParser, requireDir, requireFile } from './args';
import type { CliIO } from './io';

/** Reads a mask file of any of the three formats onto `volume`'s grid. */
export function readMaskFile(
  file: string,
  volume: Volume,
  select: { roi?: string; label?: number },
  flag: string,
): MaskVolume {
  if (/\.nii(\.gz)?$/i.test(file))
    return readNiftiLabelmap(file, volume, select.label !== undefined ? { label: select.label } : {});
  const df = readDicomFile(file);
  const sop = text(df.dataset, 'SOPClassUID');
  if (sop === SOP_CLASS.rtstruct) {
    if (select.roi === undefined)
      throw new P2SamError(
        'INVALID_ARGUMENT',
        `${flag}: ${file} is an RT Structure Set; give the ROI (--roi, or --pred-roi/--truth-roi)`,
      );
    return readRtstruct(file, volume, { roi: select.roi });
  }
  if (sop === SOP_CLASS.seg)
    return readDicomSeg(file, volume, select.roi !== undefined ? { segment: select.roi } : {});
  throw new P2SamError(
    'INVALID_ARGUMENT',
    `${flag}: ${file} is neither an RTSTRUCT, a DICOM SEG nor a NIfTI file (SOP class ${sop || 'missing'})`,
  );
}

export function formatVolumeMetrics(m: VolumeMetrics): string {
  const f = (x: number | null, d = 2) => (x === null ? 'n/a' : x.toFixed(d));
  const lines = [
    `3-D Dice ${m.dice.toFixed(4)}, HD95 ${f(m.hd95Mm)} mm, mean surface distance ${f(m.meanSurfaceDistanceMm)} mm`,
    `volume: predicted ${m.predictedMl.toFixed(2)} ml, truth ${m.truthMl.toFixed(2)} ml`,
    `false-positive slices: ${m.falsePositiveSlices.length ? m.falsePositiveSlices.join(', ') : 'none'}; false-negative slices: ${m.falseNegativeSlices.length ? m.falseNegativeSlices.join(', ') : 'none'}`,
    'slice  Dice    predicted  truth',
    ...m.perSlice.map(
      (s) =>
        `${String(s.slice).padStart(5)}  ${s.dice.toFixed(4)}  ${String(s.predictedVoxels).padStart(9)}  ${String(s.truthVoxels).padStart(5)}`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}

export function evalVolumeCommand(io: CliIO, setExit: (code: number) => void): Command {
  return new Command('eval-volume')
    .description(
      '3-D Dice, HD95, surface distance and volumes of a predicted mask vs ground truth (RTSTRUCT, SEG or NIfTI) on a DICOM series',
    )
    .requiredOption('--series <dir>', 'DICOM series the masks are on')
    .requiredOption('--pred <file>', 'predicted mask: RTSTRUCT, DICOM SEG or NIfTI labelmap')
    .requiredOption('--truth <file>', 'ground truth: RTSTRUCT, DICOM SEG or NIfTI labelmap')
    .option('--roi <name>', 'ROI / segment name for both files')
    .option('--pred-roi <name>', 'ROI / segment in --pred (default --roi)')
    .option('--truth-roi <name>', 'ROI / segment in --truth (default --roi)')
    .option('--label <n>', 'NIfTI label value (default: any non-zero)', intParser(1, 65535))
    .option('--json', 'print the metrics as one JSON object')
    .action(async (flags: Record<string, unknown>) => {
      requireDir('--series', flags.series as string);
      requireFile('--pred', flags.pred as string);
      requireFile('--truth', flags.truth as string);
      const volume = await readDicomSeries(flags.series as string);
      const label = flags.label as number | undefined;
      const pred = readMaskFile(
        flags.pred as string,
        volume,
        { roi: (flags.predRoi ?? flags.roi) as string | undefined, label },
        '--pred',
      );
      const truth = readMaskFile(
        flags.truth as string,
        volume,
        { roi: (flags.truthRoi ?? flags.roi) as string | undefined, label },
        '--truth',
      );
      const m = volumeMetrics(pred, truth, volume);
      io.stdout.write(flags.json ? `${JSON.stringify(m)}\n` : formatVolumeMetrics(m));
      setExit(0);
    });
}
