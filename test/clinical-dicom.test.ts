/**
 * Reading DICOM: every codec file of pydicom's test set against its uncompressed twin or
 * an independent decoder (DCMTK), coded errors for broken files, and series assembly on
 * real series (CT5N, CT2, rt-utils) and on synthetic ones built to be wrong.
 */
import {
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clinical, P2SamError } from '../lib';
import { readDicomFile, writeDicomFile } from '../lib/clinical/dicom-file';
import { clinicalTemp, dcmtk, dciodvfy, DICOM_DATA, pydicom } from './clinical-helpers';

const PYD = path.join(DICOM_DATA, 'pydicom');
let work: string;

beforeAll(() => {
  work = clinicalTemp('dicom');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function stored(file: string): Promise<Int32Array> {
  const [frame] = await clinical.decodeFrames(clinical.readDicomFile(file));
  return frame!;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof P2SamError ? err.code : `not a P2SamError: ${String(err)}`;
  }
  return undefined;
}

async function asyncCode(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return {
      code: err instanceof P2SamError ? err.code : undefined,
      message: String((err as Error).message),
    };
  }
  return { message: 'no error' };
}

describe('transfer syntaxes', () => {
  it('decodes every MR_small variant to the uncompressed pixels', async () => {
    const reference = await stored(path.join(PYD, 'MR_small.dcm'));
    expect(reference.length).toBe(64 * 64);
    for (const twin of [
      'MR_small_RLE.dcm',
      'MR_small_jpeg_ls_lossless.dcm',
      'MR_small_jp2klossless.dcm',
      'MR_small_bigendian.dcm',
      'MR_small_implicit.dcm',
    ]) {
      const got = await stored(path.join(PYD, twin));
      expect({
        twin,
        equal: Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(
          Buffer.from(reference.buffer, reference.byteOffset, reference.byteLength),
        ),
      }).toEqual({ twin, equal: true });
    }
  });

  it('reads the deflated file to the pixels DCMTK writes uncompressed', async () => {
    const out = path.join(work, 'dfl-explicit.dcm');
    dcmtk('dcmconv', ['+te', path.join(PYD, 'image_dfl.dcm'), out]);
    expect(Array.from(await stored(path.join(PYD, 'image_dfl.dcm')))).toEqual(Array.from(await stored(out)));
  });

  it('decodes RLE, JPEG-LS, JPEG lossless and 8-bit JPEG baseline/extended made by DCMTK', async () => {
    const ct = path.join(PYD, 'CT_small.dcm');
    const reference = Array.from(await stored(ct));
    const made: Array<[string, string[]]> = [
      ['dcmcrle', []],
      ['dcmcjpls', []],
      ['dcmcjpeg', ['+e1']], // lossless, process 14 selection value 1
    ];
    for (const [tool, args] of made) {
      const out = path.join(work, `ct-${tool}.dcm`);
      dcmtk(tool, [...args, ct, out]);
      expect({
        tool,
        ts: clinical.readDicomFile(out).transferSyntax !== clinical.TRANSFER_SYNTAX.explicitLittle,
        equal: Array.from(await stored(out)).every((v, i) => v === reference[i]),
      }).toEqual({ tool, ts: true, equal: true });
    }
    // 8-bit baseline and extended (lossy): ours against DCMTK's IJG decoder of the same stream.
    const eightBit = path.join(work, 'eight.dcm');
    dcmtk('dcmconv', ['+te', path.join(PYD, 'image_dfl.dcm'), eightBit]);
    const baseline = path.join(work, 'eight-baseline.dcm');
    dcmtk('dcmcjpeg', ['+eb', eightBit, baseline]);
    const decodedByDcmtk = path.join(work, 'eight-dcmtk.dcm');
    dcmtk('dcmdjpeg', [baseline, decodedByDcmtk]);
    expect(clinical.readDicomFile(baseline).transferSyntax).toBe(clinical.TRANSFER_SYNTAX.jpegBaseline);
    const extended = path.join(work, 'eight-extended.dcm');
    dcmtk('dcmcjpeg', ['+ee', eightBit, extended]);
    const extendedByDcmtk = path.join(work, 'eight-extended-dcmtk.dcm');
    dcmtk('dcmdjpeg', [extended, extendedByDcmtk]);
    expect(clinical.readDicomFile(extended).transferSyntax).toBe(clinical.TRANSFER_SYNTAX.jpegExtended);
    expect(Array.from(await stored(extended))).toEqual(Array.from(await stored(extendedByDcmtk)));
    const ours = await stored(baseline);
    const theirs = await stored(decodedByDcmtk);
    let differing = 0;
    for (let i = 0; i < ours.length; i++) if (ours[i] !== theirs[i]) differing++;
    expect(ours.length).toBe(512 * 512);
    expect(differing).toBe(0); // both use IJG's integer "islow" IDCT
  });

  it('decodes JPEG2000.dcm (lossy J2K) to its declared grid', async () => {
    const px = await stored(path.join(PYD, 'JPEG2000.dcm'));
    expect(px.length).toBe(1024 * 256);
    expect(px.some((v) => v !== 0)).toBe(true);
  });

  it('decodes 12-bit JPEG extended sample for sample as DCMTK does', async () => {
    for (const f of ['JPGExtended.dcm', 'JPEG-lossy.dcm']) {
      const reference = path.join(work, `dcmtk-${f}`);
      dcmtk('dcmdjpeg', [path.join(PYD, f), reference]);
      const ours = await stored(path.join(PYD, f));
      const theirs = await stored(reference);
      expect(ours.length).toBe(256 * 1024);
      let differing = 0;
      for (let i = 0; i < ours.length; i++) if (ours[i] !== theirs[i]) differing++;
      expect({ f, differing }).toEqual({ f, differing: 0 });
      expect(Math.max(...ours.subarray(0, 4096))).toBeLessThan(4096);
    }
  });

  it('gives a coded error naming the file for a corrupt 12-bit JPEG stream', async () => {
    const df = clinical.readDicomFile(path.join(PYD, 'JPGExtended.dcm'));
    const frame = new Uint8Array((df.dataset.PixelData as ArrayBuffer[])[0]!);
    // Keep the headers, cut the scan short and overwrite it with an invalid Huffman run.
    const sos = frame.findIndex((b, i) => b === 0xff && frame[i + 1] === 0xda);
    const broken = frame.slice(0, sos + 40);
    broken.fill(0xfe, sos + 14);
    df.dataset.PixelData = [broken.buffer];
    const e = await asyncCode(clinical.decodeFrames({ ...df, file: 'broken-12bit.dcm' }));
    expect(e.code === 'DICOM_READ_FAILED' || e.code === 'DICOM_UNSUPPORTED').toBe(true);
    expect(e.message).toContain('broken-12bit.dcm');
  });

  it('gives coded errors for a truncated file and for bytes that are no data set', () => {
    for (const f of ['MR_truncated.dcm', 'no_meta.dcm']) {
      let err: unknown;
      try {
        readDicomFile(path.join(PYD, f));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(P2SamError);
      expect((err as P2SamError).code).toBe('DICOM_READ_FAILED');
      expect((err as P2SamError).message).toContain(f);
    }
    expect(
      (() => {
        try {
          readDicomFile(path.join(PYD, 'MR_truncated.dcm'));
        } catch (e) {
          return (e as Error).message;
        }
        return '';
      })(),
    ).toMatch(/truncated/);
  });

  it('reads the bare data set of rtstruct.dcm (no meta header) and lists its three ROIs', () => {
    const info = clinical.readRtstructInfo(path.join(PYD, 'rtstruct.dcm'));
    expect(info.rois.map((r) => r.name)).toEqual(['patient', 'Isocenter 1', 'Isocenter 2']);
    expect(info.rois.map((r) => r.number)).toEqual([1, 2, 3]);
  });
});

describe('readDicomSeries', () => {
  it('reads CT5N as 5 slices sorted along the normal, HU rescaled', async () => {
    const v = await clinical.readDicomSeries(path.join(PYD, 'CT5N'));
    expect([v.columns, v.rows, v.slices]).toEqual([16, 16, 5]);
    expect(v.positions.map((p) => p[2])).toEqual([-1.2375, 1.2625, 3.7625, 6.2625, 8.7625]);
    expect(v.files.map((f) => path.basename(f))).toEqual(['3353', '3023', '2693', '2392', '2062']);
    expect(v.normal).toEqual([0, 0, 1]);
    const ds = readDicomFile(v.files[0]!).dataset;
    const [raw] = await clinical.decodeFrames(readDicomFile(v.files[0]!));
    expect(v.voxels[7]).toBe(raw![7]! * Number(ds.RescaleSlope) + Number(ds.RescaleIntercept));
    expect(v.warnings).toEqual([]);
  });

  it('reads CT2 as 4 slices with its uneven positions and flags the gap', async () => {
    const v = await clinical.readDicomSeries(path.join(PYD, 'CT2'));
    expect(v.slices).toBe(4);
    expect(v.positions.map((p) => Math.round(p[2] * 100) / 100)).toEqual([-99.48, 103.02, 104.27, 105.52]);
    expect(v.warnings.map((w) => w.code)).toEqual(['SLICE_GAP']);
    expect(v.warnings[0]!.files.map((f) => path.basename(f))).toEqual(['17106', '17136']);
    const e = await asyncCode(clinical.readDicomSeries(path.join(PYD, 'CT2'), { requireContiguous: true }));
    expect(e.code).toBe('DICOM_SERIES_INVALID');
    expect(e.message).toContain('17106');
  });

  it('reads the oblique rt-utils slices without SliceLocation', async () => {
    const v = await clinical.readDicomSeries(path.join(DICOM_DATA, 'rt-utils', 'oriented_data'));
    expect(v.slices).toBe(3);
    expect(
      Math.abs(v.rowDirection[1]) +
        Math.abs(v.rowDirection[2]) +
        Math.abs(v.columnDirection[0]) +
        Math.abs(v.columnDirection[2]),
    ).toBeGreaterThan(0.01);
    const offsets = clinical.sliceOffsets(v);
    expect(offsets[1]! > offsets[0]! && offsets[2]! > offsets[1]!).toBe(true);
  });

  it('lists the series of a mixed folder and reads the chosen one', async () => {
    const dir = path.join(work, 'mixed');
    mkdirSync(dir, { recursive: true });
    for (const f of readdirSync(path.join(PYD, 'CT5N')))
      copyFileSync(path.join(PYD, 'CT5N', f), path.join(dir, `a-${f}`));
    mkdirSync(path.join(dir, 'nested'));
    for (const f of readdirSync(path.join(PYD, 'CT2')))
      copyFileSync(path.join(PYD, 'CT2', f), path.join(dir, 'nested', f));
    writeFileSync(path.join(dir, 'README.txt'), 'not DICOM');
    const e = await asyncCode(clinical.readDicomSeries(dir));
    expect(e.code).toBe('DICOM_SERIES_CHOICE');
    expect(e.message).toContain('1.3.6.1.4.1.5962.1.1.0.0.0.1194734704.16302.0.6');
    expect(e.message).toContain('1.3.6.1.4.1.5962.1.1.0.0.0.1196530851.28319.0.2');
    const v = await clinical.readDicomSeries(dir, {
      seriesInstanceUid: '1.3.6.1.4.1.5962.1.1.0.0.0.1196530851.28319.0.2',
    });
    expect(v.slices).toBe(4);
  });

  it('names the file of a truncated slice in a series', async () => {
    const dir = path.join(work, 'truncated');
    mkdirSync(dir, { recursive: true });
    for (const f of readdirSync(path.join(PYD, 'CT5N')))
      copyFileSync(path.join(PYD, 'CT5N', f), path.join(dir, f));
    truncateSync(path.join(dir, '2693'), readFileSync(path.join(dir, '2693')).length - 100);
    const e = await asyncCode(clinical.readDicomSeries(dir));
    expect(e.code).toBe('DICOM_READ_FAILED');
    expect(e.message).toContain('2693');
    // A broken file of another series does not block reading this one.
    mkdirSync(path.join(dir, 'other'));
    for (const f of readdirSync(path.join(PYD, 'CT2')))
      copyFileSync(path.join(PYD, 'CT2', f), path.join(dir, 'other', f));
    const ct2 = await clinical.readDicomSeries(dir, {
      seriesInstanceUid: '1.3.6.1.4.1.5962.1.1.0.0.0.1196530851.28319.0.2',
    });
    expect(ct2.slices).toBe(4);
    const again = await asyncCode(
      clinical.readDicomSeries(dir, { seriesInstanceUid: '1.3.6.1.4.1.5962.1.1.0.0.0.1194734704.16302.0.6' }),
    );
    expect(again.message).toContain('2693');
    expect(
      clinical.scanDicomFolder(dir).broken.map((b) => [path.basename(b.file), b.seriesInstanceUid]),
    ).toEqual([['2693', '1.3.6.1.4.1.5962.1.1.0.0.0.1194734704.16302.0.6']]);
  });

  it('refuses mixed orientations and gantry tilt, naming the files', async () => {
    const a = clinical.writePhantomSeries(path.join(work, 'orient', 'a'), {
      slices: 3,
      columns: 8,
      rows: 8,
      seed: 'same',
    });
    clinical.writePhantomSeries(path.join(work, 'orient', 'b'), {
      slices: 2,
      columns: 8,
      rows: 8,
      seed: 'same',
      orientation: [1, 0, 0, 0, 0, -1],
      centre: [0, 40, 0],
    });
    const e = await asyncCode(clinical.readDicomSeries(path.join(work, 'orient')));
    expect(e.code).toBe('DICOM_SERIES_INVALID');
    expect(e.message).toMatch(/mixed ImageOrientationPatient/);
    expect(e.message).toContain(path.join('b', 'slice-001.dcm'));

    // Tilt: shift each slice's origin sideways by 1 mm per slice, as a tilted gantry does.
    const tilt = path.join(work, 'tilt');
    mkdirSync(tilt);
    a.files.forEach((f, k) => {
      const ds = readDicomFile(f).dataset;
      const ipp = (ds.ImagePositionPatient as number[]).map(Number);
      ds.ImagePositionPatient = [ipp[0], ipp[1]! + k, ipp[2]];
      ds.GantryDetectorTilt = 21.8;
      writeDicomFile(path.join(tilt, path.basename(f)), ds);
    });
    const t = await asyncCode(clinical.readDicomSeries(tilt));
    expect(t.code).toBe('DICOM_SERIES_INVALID');
    expect(t.message).toMatch(/gantry tilt 21.8/);
    expect(t.message).toContain('slice-002.dcm');
  });

  it('says what a folder without images holds', async () => {
    const e = await asyncCode(
      clinical.readDicomSeries(path.join(DICOM_DATA, 'rt-utils', 'mock_data', 'rt.dcm')),
    );
    expect(e.code).toBe('DICOM_NO_SERIES');
  });
});

describe('phantom series', () => {
  it('writes a CT series dciodvfy accepts, read back voxel for voxel', async () => {
    const ph = clinical.writePhantomSeries(path.join(work, 'phantom'), {
      columns: 40,
      rows: 36,
      slices: 7,
      pixelSpacing: [0.9, 0.8],
      sliceSpacing: 3,
      noiseHu: 12,
      seed: 'dv',
    });
    for (const f of ph.files) expect({ f, errors: dciodvfy(f).errors }).toEqual({ f, errors: [] });
    const v = await clinical.readDicomSeries(path.join(work, 'phantom'));
    expect(Array.from(v.voxels)).toEqual(Array.from(ph.volume.voxels));
    // pydicom reads the same HU from the files (stored + intercept).
    const hu = pydicom(
      'ds = pydicom.dcmread(sys.argv[1])\nimport numpy as np\na = ds.pixel_array.astype(np.int64) * int(ds.RescaleSlope) + int(ds.RescaleIntercept)\nprint(json.dumps({"shape": list(a.shape), "hu": a.ravel().tolist()}))',
      [ph.files[3]!],
    ) as { shape: number[]; hu: number[] };
    expect(hu.shape).toEqual([36, 40]);
    expect(hu.hu).toEqual(Array.from(ph.volume.voxels.subarray(3 * 40 * 36, 4 * 40 * 36)));
    expect(v.positions).toEqual(ph.volume.positions.map((p) => p.map((x) => Number(clinical.formatDs(x)))));
    const tumourHu = v.voxels.filter((_, i) => ph.masks.tumour.data[i] === 1);
    const lungHu = v.voxels.filter((_, i) => ph.masks.lungs.data[i] === 1 && ph.masks.tumour.data[i] === 0);
    expect(tumourHu.length).toBeGreaterThan(10);
    const mean = (a: Float32Array) => a.reduce((s, x) => s + x, 0) / a.length;
    expect(Math.abs(mean(tumourHu) - 30)).toBeLessThan(10);
    expect(Math.abs(mean(lungHu) + 850)).toBeLessThan(10);
  });
});

describe('HU windows', () => {
  it('maps presets and pairs, and rejects bad windows', () => {
    expect(clinical.huWindowBounds('lung')).toEqual([-1350, 150]);
    expect(
      Array.from(clinical.applyHuWindow(new Float32Array([-2000, -910, -10, 590, 3000]), 'p2sam')),
    ).toEqual([0, 0, 153, 255, 255]);
    expect(Array.from(clinical.applyHuWindow(new Float32Array([-160, 0, 240]), 'mediastinum'))).toEqual([
      0, 102, 255,
    ]);
    expect(codeOf(() => clinical.huWindowBounds([5, 5]))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => clinical.huWindowBounds('bone' as never))).toBe('INVALID_ARGUMENT');
    const volume = { columns: 2, rows: 1, slices: 2, voxels: new Float32Array([-1000, 0, 40, 590]) };
    expect(clinical.volumeSliceImage(volume, 1, [40, 590])).toEqual({
      data: new Uint8Array([0, 0, 0, 255, 255, 255]),
      width: 2,
      height: 1,
      channels: 3,
    });
    expect(codeOf(() => clinical.volumeSliceImage(volume, 2, 'lung'))).toBe('INVALID_ARGUMENT');
  });
});
