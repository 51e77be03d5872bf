/**
 * `p2sam convert INPUT --reference SERIES --to OUTPUT`: a mask between RTSTRUCT, DICOM
 * SEG, NIfTI labelmap and PNG slices, on the voxel grid of a reference DICOM series.
 *
 * The input kind is detected (RTSTRUCT/SEG by their DICOM SOP class, .nii/.nii.gz, a
 * folder of PNGs — one per slice in slice order, sorted by file name); the output kind
 * comes from --format or the output name (.nii/.nii.gz → NIfTI, a .dcm needs --format
 * rtstruct|seg, anything else with --format png is a folder of slice-NNN.png).
 */
import { readdirSync, statSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { readDicomSeries } from '../clinical/dicom-series';
import { readDicomFile, SOP_CLASS, text } from '../clinical/dicom-file';
import { readRtstruct } from '../clinical/rtstruct-read';
import { writeRtstruct } from '../clinical/rtstruct-write';
import { readDicomSeg, writeDicomSeg } from '../clinical/seg';
import { readNiftiLabelmap, writeNifti } from '../clinical/nifti';
import { emptyMask, type MaskVolume, type Volume } from '../clinical/volume';
import type { ContourConvention } from '../clinical/contours';
import { readMask, writeMaskPng } from '../io/image';
import { UsageError, EXIT_OK } from './exit-codes';
import type { CliIO } from './io';

type Format = 'rtstruct' | 'seg' | 'nifti' | 'png';

function outputFormat(out: string, given?: string): Format {
  if (given) return given as Format;
  if (/\.nii(\.gz)?$/i.test(out)) return 'nifti';
  throw new UsageError(
    `--to ${out}: cannot tell the output format from the name; add --format rtstruct|seg|nifti|png`,
  );
}

async function readInputMask(
  input: string,
  volume: Volume,
  select: { roi?: string; label?: number },
): Promise<{ mask: MaskVolume; name: string }> {
  if (statSync(input).isDirectory()) {
    const pngs = readdirSync(input)
      .filter((f) => /\.png$/i.test(f))
      .sort();
    if (pngs.length !== volume.slices) {
      throw new UsageError(
        `${input}: expected ${volume.slices} PNG slices (one per reference slice), found ${pngs.length}`,
      );
    }
    const mask = emptyMask(volume);
    const plane = volume.columns * volume.rows;
    for (let k = 0; k < pngs.length; k++) {
      const m = await readMask(path.join(input, pngs[k]!), { width: volume.columns, height: volume.rows });
      for (let i = 0; i < plane; i++) mask.data[k * plane + i] = m.data[i] ? 1 : 0;
    }
    return { mask, name: path.basename(input) };
  }
  if (/\.nii(\.gz)?$/i.test(input)) {
    return {
      mask: readNiftiLabelmap(input, volume, select.label === undefined ? {} : { label: select.label }),
      name: select.label === undefined ? 'label' : `label ${select.label}`,
    };
  }
  const df = readDicomFile(input);
  const sop = text(df.dataset, 'SOPClassUID');
  if (sop === SOP_CLASS.rtstruct) {
    if (select.roi === undefined)
      throw new UsageError(`${input} is an RTSTRUCT: choose the ROI with --roi NAME|NUMBER`);
    return {
      mask: readRtstruct(input, volume, { roi: /^\d+$/.test(select.roi) ? Number(select.roi) : select.roi }),
      name: select.roi,
    };
  }
  if (sop === SOP_CLASS.seg) {
    const segment =
      select.roi === undefined ? undefined : /^\d+$/.test(select.roi) ? Number(select.roi) : select.roi;
    return {
      mask: readDicomSeg(input, volume, segment === undefined ? {} : { segment }),
      name: select.roi ?? 'segment',
    };
  }
  throw new UsageError(
    `${input}: expected an RTSTRUCT, a SEG, a NIfTI labelmap or a folder of PNG slices, received a DICOM ${text(df.dataset, 'Modality') || 'object'}`,
  );
}

export function convertCommand(io: CliIO, setExit: (code: number) => void): Command {
  return new Command('convert')
    .description(
      'convert a mask between RTSTRUCT, DICOM SEG, NIfTI labelmap and PNG slices on a reference DICOM series',
    )
    .argument('<input>', 'RTSTRUCT or SEG .dcm, .nii/.nii.gz labelmap, or a folder of PNG slices')
    .requiredOption('--reference <series>', 'folder (or file) of the reference DICOM image series')
    .requiredOption('--to <output>', 'output file (.dcm, .nii, .nii.gz) or folder (PNG slices)')
    .option(
      '--format <format>',
      'rtstruct | seg | nifti | png (default: from the output name)',
      (v: string) => {
        if (!['rtstruct', 'seg', 'nifti', 'png'].includes(v))
          throw new InvalidArgumentError('expected rtstruct, seg, nifti or png');
        return v;
      },
    )
    .option('--roi <name>', 'RTSTRUCT ROI (name or number) or SEG segment (label or number) to read')
    .option('--label <n>', 'NIfTI label value to read (default: every non-zero voxel)', (v: string) => {
      if (!/^\d+$/.test(v)) throw new InvalidArgumentError('expected a non-negative integer');
      return Number(v);
    })
    .option('--name <name>', 'ROI / segment name to write (default: the input ROI or file name)')
    .option('--series <uid>', 'SeriesInstanceUID of the reference when its folder holds several')
    .option(
      '--convention <c>',
      "RTSTRUCT contour vertices: 'pixel-centres' (default) or 'voxel-edges'",
      (v: string) => {
        if (v !== 'pixel-centres' && v !== 'voxel-edges')
          throw new InvalidArgumentError("expected 'pixel-centres' or 'voxel-edges'");
        return v;
      },
    )
    .action(
      async (
        input: string,
        flags: {
          reference: string;
          to: string;
          format?: string;
          roi?: string;
          label?: number;
          name?: string;
          series?: string;
          convention?: ContourConvention;
        },
      ) => {
        const format = outputFormat(flags.to, flags.format);
        const volume = await readDicomSeries(
          flags.reference,
          flags.series ? { seriesInstanceUid: flags.series } : {},
        );
        const { mask, name: inputName } = await readInputMask(input, volume, {
          ...(flags.roi !== undefined ? { roi: flags.roi } : {}),
          ...(flags.label !== undefined ? { label: flags.label } : {}),
        });
        const name = flags.name ?? inputName;
        let voxels = 0;
        for (const v of mask.data) voxels += v;
        switch (format) {
          case 'rtstruct': {
            const r = writeRtstruct(
              flags.to,
              volume,
              [{ name, mask }],
              flags.convention ? { convention: flags.convention } : {},
            );
            io.stdout.write(
              `${flags.to}: RTSTRUCT, ROI "${name}", ${r.contours[0]} contour(s), ${voxels} voxels\n`,
            );
            break;
          }
          case 'seg': {
            const r = writeDicomSeg(flags.to, volume, [{ label: name, mask }]);
            io.stdout.write(`${flags.to}: SEG, segment "${name}", ${r.frames} frame(s), ${voxels} voxels\n`);
            break;
          }
          case 'nifti':
            writeNifti(flags.to, mask, volume);
            io.stdout.write(`${flags.to}: NIfTI labelmap, ${voxels} voxels\n`);
            break;
          case 'png': {
            mkdirSync(flags.to, { recursive: true });
            const plane = volume.columns * volume.rows;
            for (let k = 0; k < volume.slices; k++) {
              await writeMaskPng(path.join(flags.to, `slice-${String(k + 1).padStart(3, '0')}.png`), {
                data: mask.data.subarray(k * plane, (k + 1) * plane),
                width: volume.columns,
                height: volume.rows,
              });
            }
            io.stdout.write(`${flags.to}: ${volume.slices} PNG slice(s), ${voxels} voxels\n`);
            break;
          }
        }
        setExit(EXIT_OK);
      },
    );
}
