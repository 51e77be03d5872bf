/**
 * `node dist/bench/clinical.js [--slices N] [--size N] [--out FILE]` — timings of the
 * clinical layer on a CT-sized case (default 512×512×100): phantom series write, series
 * read, contour tracing, RTSTRUCT write/read, SEG write/read, NIfTI write/read. Writes
 * bench/results/clinical.json. Single-threaded TypeScript throughout; the target
 * is that a 512×512×100 mask traces "well under a few seconds".
 */
import { mkdtempSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as clinical from '../lib/clinical';
import { machineInfo, ROOT, round } from './util';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

async function time<T>(fn: () => T | Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = process.hrtime.bigint();
  const value = await fn();
  return { ms: round(Number(process.hrtime.bigint() - t0) / 1e6, 1), value };
}

async function main(): Promise<void> {
  const size = arg('size', 512);
  const slices = arg('slices', 100);
  const outIdx = process.argv.indexOf('--out');
  const out = outIdx >= 0 ? process.argv[outIdx + 1]! : path.join(ROOT, 'bench', 'results', 'clinical.json');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'p2sam-bench-clinical-'));
  const info = machineInfo(1);
  try {
    const phantom = await time(() =>
      clinical.writePhantomSeries(path.join(dir, 'ct'), {
        columns: size,
        rows: size,
        slices,
        pixelSpacing: [0.8, 0.8],
        noiseHu: 15,
        seed: 'bench',
      }),
    );
    const read = await time(() => clinical.readDicomSeries(path.join(dir, 'ct')));
    const ct = read.value;
    // Lungs: two large blobs per slice with a tumour hole cut out, plus speckle islands.
    const mask = { ...phantom.value.masks.lungs, data: phantom.value.masks.lungs.data.slice() };
    for (let i = 0; i < mask.data.length; i++) {
      if (phantom.value.masks.tumour.data[i]) mask.data[i] = 0;
      else if (i % 997 === 0) mask.data[i] = 1;
    }
    const plane = size * size;
    const trace = await time(() => {
      let loops = 0;
      for (let k = 0; k < slices; k++)
        loops += clinical.traceContours(mask.data.subarray(k * plane, (k + 1) * plane), size, size).length;
      return loops;
    });
    const rsFile = path.join(dir, 'rs.dcm');
    const rsWrite = await time(() => clinical.writeRtstruct(rsFile, ct, [{ name: 'lungs', mask }]));
    const rsRead = await time(() => clinical.readRtstruct(rsFile, ct, { roi: 'lungs' }));
    const segFile = path.join(dir, 'seg.dcm');
    const segWrite = await time(() => clinical.writeDicomSeg(segFile, ct, [{ label: 'lungs', mask }]));
    const segRead = await time(() => clinical.readDicomSeg(segFile, ct, { segment: 'lungs' }));
    const niiFile = path.join(dir, 'lungs.nii.gz');
    const niiWrite = await time(() => clinical.writeNifti(niiFile, mask, ct));
    const niiRead = await time(() => clinical.readNiftiLabelmap(niiFile, ct));
    const exact = [rsRead.value, segRead.value, niiRead.value].every((m) =>
      Buffer.from(m.data).equals(Buffer.from(mask.data)),
    );
    const report = {
      date: new Date().toISOString(),
      machine: info,
      grid: { columns: size, rows: size, slices },
      ms: {
        phantomWrite: phantom.ms,
        seriesRead: read.ms,
        traceContours: trace.ms,
        rtstructWrite: rsWrite.ms,
        rtstructRead: rsRead.ms,
        segWrite: segWrite.ms,
        segRead: segRead.ms,
        niftiWrite: niiWrite.ms,
        niftiRead: niiRead.ms,
      },
      contours: trace.value,
      bytes: { rtstruct: statSync(rsFile).size, seg: statSync(segFile).size, nifti: statSync(niiFile).size },
      roundTripsExact: exact,
      target: { traceUnderMs: 3000, met: trace.ms < 3000 },
    };
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
    for (const [k, v] of Object.entries(report.ms))
      console.log(`${k.padEnd(14)} ${String(v).padStart(9)} ms`);
    console.log(`contours ${trace.value}, exact round trips: ${exact}, report: ${out}`);
    if (!exact) process.exitCode = 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();
