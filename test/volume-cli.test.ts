/**
 * `p2sam volume` as a user runs it: the compiled binary, spawned on a two-visit phantom
 * study written as real DICOM (CT series + RTSTRUCT per visit). The written structure set
 * is checked by dciodvfy and read back to the same voxels as the SEG and NIfTI outputs;
 * the manifest batch runs two visits; bad input gets clear coded errors; Ctrl-C stops
 * with 130 and no partial structure set.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readDicomSeries } from '../lib/clinical/dicom-series';
import { readRtstruct } from '../lib/clinical/rtstruct-read';
import { readDicomSeg } from '../lib/clinical/seg';
import { readNiftiLabelmap } from '../lib/clinical/nifti';
import { writePhantomStudy, type WrittenPhantomStudy } from '../lib/volume/phantom-dicom';
import { CLI, ensureBuilt, runCli, tempDir, writeModel } from './cli-helpers';
import { dciodvfy } from './clinical-helpers';

let dir: string;
let study: WrittenPhantomStudy;
let model: { encoder: string; decoder: string };

beforeAll(async () => {
  ensureBuilt();
  dir = tempDir('volume');
  study = writePhantomStudy(path.join(dir, 'study'), { size: 256, seed: 2 });
  model = await writeModel(path.join(dir, 'model'));
}, 120_000);

/** `p2sam volume` with the testkit model; the rest of argv follows. */
function volumeArgs(...rest: string[]): string[] {
  return ['volume', '--encoder', model.encoder, '--decoder', model.decoder, ...rest];
}

/** The manifest batch form: the testkit model over one manifest. */
function manifestArgs(manifest: string, out: string): string[] {
  return volumeArgs('--manifest', manifest, '--out', out);
}

function visitArgs(out: string, extra: string[] = []): string[] {
  return [
    ...volumeArgs(),
    '--ref-series',
    study.reference.seriesDir,
    '--ref-rtstruct',
    study.reference.rtstruct,
    '--roi',
    'GTV',
    '--target-series',
    study.target.seriesDir,
    '--out',
    out,
    ...extra,
  ];
}

describe('p2sam volume (one visit)', () => {
  it('writes a valid RTSTRUCT that reads back to the same voxels as the SEG and NIfTI, overlays, a montage and report.json', async () => {
    const out = path.join(dir, 'out-one');
    const r = await runCli(
      visitArgs(out, [
        '--truth-rtstruct',
        study.target.rtstruct,
        '--format',
        'rtstruct,seg,nifti,png',
        '--json',
      ]),
      { timeoutMs: 240_000 },
    );
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const visit = lines.find((l) => l.type === 'visit')!;
    expect(lines.filter((l) => l.type === 'slice').length).toBe(study.study.target.volume.slices);
    expect(visit.dice as number).toBeGreaterThanOrEqual(0.85);
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    expect(report.status).toBe('ok');
    expect(report.metrics.falsePositiveSlices).toEqual([]);
    expect(Math.abs(report.alignment.offsetMm - study.study.zOffsetMm)).toBeLessThanOrEqual(
      study.study.target.spec.sliceMm,
    );

    // Independent validator: no errors on what we wrote, nor on the phantom's own CT slices.
    for (const f of [
      path.join(out, 'rtstruct.dcm'),
      path.join(out, 'seg.dcm'),
      path.join(study.target.seriesDir, 'slice-001.dcm'),
    ]) {
      const v = dciodvfy(f);
      expect(v.errors, `${f}: ${v.errors.join('\n')}`).toEqual([]);
    }
    // Round trip: the structure set, the SEG and the NIfTI all give the same voxels, and
    // those are the voxels the report counted.
    const target = await readDicomSeries(study.target.seriesDir);
    const fromRt = readRtstruct(path.join(out, 'rtstruct.dcm'), target, { roi: 'GTV' });
    const fromSeg = readDicomSeg(path.join(out, 'seg.dcm'), target, { segment: 'GTV' });
    const fromNifti = readNiftiLabelmap(path.join(out, 'mask.nii.gz'), target);
    expect(Buffer.compare(Buffer.from(fromRt.data), Buffer.from(fromSeg.data))).toBe(0);
    expect(Buffer.compare(Buffer.from(fromRt.data), Buffer.from(fromNifti.data))).toBe(0);
    const counted = (report.slices as { areaPixels: number }[]).reduce((a, s) => a + s.areaPixels, 0);
    expect(fromRt.data.reduce((a, b) => a + b, 0)).toBe(counted);

    const ran = (report.slices as { ran: boolean; targetSlice: number }[]).filter((s) => s.ran);
    const files = readdirSync(path.join(out, 'slices'));
    expect(files.filter((f) => f.endsWith('.overlay.png')).length).toBe(ran.length);
    expect(files.filter((f) => f.endsWith('.mask.png')).length).toBe(ran.length);
    expect(existsSync(path.join(out, 'review.png'))).toBe(true);
  }, 300_000);

  it('p2sam eval-volume gives the same metrics from the RTSTRUCT, SEG and NIfTI outputs', async () => {
    const out = path.join(dir, 'out-one');
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    for (const pred of ['rtstruct.dcm', 'seg.dcm', 'mask.nii.gz']) {
      const r = await runCli([
        'eval-volume',
        '--series',
        study.target.seriesDir,
        '--pred',
        path.join(out, pred),
        '--truth',
        study.target.rtstruct,
        '--roi',
        'GTV',
        '--json',
      ]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const m = JSON.parse(r.stdout);
      expect(m.dice).toBeCloseTo(report.metrics.dice, 12);
      expect(m.hd95Mm).toBeCloseTo(report.metrics.hd95Mm, 9);
      expect(m.truthMl).toBeCloseTo(report.metrics.truthMl, 9);
    }
    const human = await runCli([
      'eval-volume',
      '--series',
      study.target.seriesDir,
      '--pred',
      path.join(out, 'rtstruct.dcm'),
      '--truth',
      study.target.rtstruct,
      '--roi',
      'GTV',
    ]);
    expect(human.stdout).toMatch(/^3-D Dice 0\.\d{4}, HD95 [\d.]+ mm/);
    const bad = await runCli([
      'eval-volume',
      '--series',
      study.target.seriesDir,
      '--pred',
      path.join(study.target.seriesDir, 'slice-001.dcm'),
      '--truth',
      study.target.rtstruct,
      '--roi',
      'GTV',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/neither an RTSTRUCT, a DICOM SEG nor a NIfTI/);
  }, 120_000);

  it('names the ROIs present when --roi is missing from the structure set', async () => {
    const r = await runCli(
      visitArgs(path.join(dir, 'out-roi')).map((a) => (a === 'GTV' ? 'CTV' : a)),
      { timeoutMs: 60_000 },
    );
    // A name that is not in the file is a usage error, as for the clinical commands.
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/RTSTRUCT_ROI_NOT_FOUND/);
    expect(r.stderr).toMatch(/GTV/);
    expect(JSON.parse(readFileSync(path.join(dir, 'out-roi', 'report.json'), 'utf8')).status).toBe('failed');
  });

  it('refuses a structure set drawn on another series', async () => {
    const args = visitArgs(path.join(dir, 'out-mismatch')).map((a) =>
      a === study.reference.rtstruct ? study.target.rtstruct : a,
    );
    const r = await runCli(args, { timeoutMs: 60_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/RTSTRUCT_SERIES_MISMATCH/);
  });

  it('refuses a target without any overlap with the reference ROI extent', async () => {
    const r = await runCli(visitArgs(path.join(dir, 'out-far'), ['--z-offset-mm', '900']), {
      timeoutMs: 60_000,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/VOLUME_NO_OVERLAP/);
    expect(r.stderr).toMatch(/extent ± 10 mm/);
    expect(existsSync(path.join(dir, 'out-far', 'rtstruct.dcm'))).toBe(false);
  });

  it('treats missing or bad arguments as usage errors (exit 2) before loading anything', async () => {
    const r1 = await runCli(volumeArgs('--out', path.join(dir, 'x'), '--roi', 'GTV'));
    expect(r1.code).toBe(2);
    expect(r1.stderr).toMatch(/missing --ref-series, --ref-rtstruct, --target-series/);
    const r2 = await runCli(visitArgs(path.join(dir, 'y'), ['--window', 'bone']));
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/--window/);
    const r3 = await runCli(
      visitArgs(path.join(dir, 'z')).map((a) => (a === study.target.seriesDir ? path.join(dir, 'nope') : a)),
    );
    expect(r3.code).toBe(2);
    expect(r3.stderr).toMatch(/--target-series: no such directory/);
  });

  it('stops on Ctrl-C with exit 130, an interrupted report and no structure set', async () => {
    const out = path.join(dir, 'out-int');
    const child = spawn(process.execPath, [CLI, ...visitArgs(out)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let sent = false;
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (!sent && /\[2\/\d+\]/.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(sent).toBe(true);
    expect(code).toBe(130);
    expect(JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')).status).toBe('interrupted');
    expect(existsSync(path.join(out, 'rtstruct.dcm'))).toBe(false);
  }, 120_000);
});

describe('p2sam volume --manifest', () => {
  it('runs every visit of a CSV manifest with one model load, one report per visit and a summary', async () => {
    const manifest = path.join(dir, 'study', 'visits.csv');
    writeFileSync(
      manifest,
      `${[
        'patient,visit,ref_series,ref_rtstruct,roi,target_series,truth_rtstruct',
        // Forward (planning → follow-up) and backward (follow-up → planning): paths relative to the manifest.
        'PH2,followup,reference/ct,reference/rtstruct.dcm,GTV,target/ct,target/rtstruct.dcm',
        // The same reference again, next row: its slices come from the batch's cache.
        'PH2,followup-again,reference/ct,reference/rtstruct.dcm,GTV,target/ct,target/rtstruct.dcm',
        'PH2,planning,target/ct,target/rtstruct.dcm,GTV,reference/ct,reference/rtstruct.dcm',
      ].join('\n')}\n`,
    );
    const out = path.join(dir, 'out-batch');
    const r = await runCli(manifestArgs(manifest, out), { timeoutMs: 400_000 });
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/3 of 3 visits contoured/);
    const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
    expect(summary.status).toBe('ok');
    expect(summary.visits.map((v: { visit: string }) => v.visit)).toEqual([
      'followup',
      'followup-again',
      'planning',
    ]);
    expect(summary.visits[0].referenceSlicesEncoded).toBeGreaterThan(0);
    expect(summary.visits[1].referenceSlicesEncoded).toBe(0);
    expect(summary.visits[1].dice).toBe(summary.visits[0].dice);
    expect(summary.visits[2].referenceSlicesEncoded).toBeGreaterThan(0);
    for (const v of summary.visits) {
      expect(v.status).toBe('ok');
      expect(v.dice).toBeGreaterThanOrEqual(0.8);
      expect(v.falsePositiveSlices).toBe(0);
      expect(existsSync(path.join(out, v.report))).toBe(true);
      expect(existsSync(path.join(out, 'PH2', v.visit, 'rtstruct.dcm'))).toBe(true);
    }
    expect(summary.patients[0].patient).toBe('PH2');
    expect(summary.patients[0].meanDice).toBeGreaterThanOrEqual(0.8);
  }, 500_000);

  it('records a failing visit and goes on (exit 1), and refuses a malformed manifest (exit 2)', async () => {
    const manifest = path.join(dir, 'study', 'bad-roi.json');
    writeFileSync(
      manifest,
      JSON.stringify([
        {
          patient: 'PH2',
          visit: 'wrong-roi',
          ref_series: 'reference/ct',
          ref_rtstruct: 'reference/rtstruct.dcm',
          roi: 'LUNG',
          target_series: 'target/ct',
        },
      ]),
    );
    const out = path.join(dir, 'out-batch-bad');
    const r = await runCli(manifestArgs(manifest, out), { timeoutMs: 120_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/PH2\/wrong-roi: error: .*RTSTRUCT_ROI_NOT_FOUND/);
    expect(JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8')).visits[0].status).toBe('failed');

    const broken = path.join(dir, 'study', 'broken.csv');
    writeFileSync(broken, 'patient,ref_series\nPH2,reference/ct\n');
    const r2 = await runCli(manifestArgs(broken, out));
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/missing 'ref_rtstruct'/);
  }, 200_000);
});
