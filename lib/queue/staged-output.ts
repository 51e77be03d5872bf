/**
 * Output of one job attempt, written so that a retry never leaves a half-written or a
 * duplicated result.
 *
 * Every file is first written into `<out>/.p2sam-staging/<job>/` (a folder this attempt
 * creates fresh, after deleting whatever a killed earlier attempt left there), then
 * renamed onto its final, deterministic name in `<out>`. rename(2) replaces the
 * destination atomically, so a reader sees the old complete file or the new complete
 * one, and a second attempt writes the same names again instead of adding copies.
 * `result.json` is committed last: its presence means every mask it lists is in place.
 * BullMQ's job lock guarantees one attempt at a time, which is what makes deleting the
 * staging folder at the start safe.
 */
import { mkdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';

export const STAGING_DIR = '.p2sam-staging';

/** A job id made safe as one path component (BullMQ ids are usually digits; custom ids may not be). */
export function jobDirName(jobId: string): string {
  return jobId.replace(/[^A-Za-z0-9._-]/g, '_');
}

export class StagedOutput {
  readonly out: string;
  readonly staging: string;
  #committed = new Set<string>();

  private constructor(out: string, staging: string) {
    this.out = out;
    this.staging = staging;
  }

  /** Clears what an earlier attempt of `jobId` left and opens a fresh staging folder. */
  static async open(out: string, jobId: string): Promise<StagedOutput> {
    const dir = path.resolve(out);
    const staging = path.join(dir, STAGING_DIR, jobDirName(jobId));
    await rm(staging, { recursive: true, force: true });
    await mkdir(staging, { recursive: true });
    return new StagedOutput(dir, staging);
  }

  /** Where to write `name` before it is committed. */
  stagingPath(name: string): string {
    return path.join(this.staging, name);
  }

  /** Moves a staged file onto `<out>/<name>` (atomic replace). Returns the final path. */
  async commit(name: string): Promise<string> {
    const final = path.join(this.out, name);
    await rename(this.stagingPath(name), final);
    this.#committed.add(name);
    return final;
  }

  /** Writes `value` as JSON and commits it. */
  async commitJson(name: string, value: unknown): Promise<string> {
    await writeFile(this.stagingPath(name), `${JSON.stringify(value, null, 2)}\n`, { flag: 'wx' });
    return this.commit(name);
  }

  /** Removes the staging folder (and the parent when no other job is using it). */
  async close(): Promise<void> {
    await rm(this.staging, { recursive: true, force: true });
    // rmdir refuses a non-empty folder: another job's staging keeps it.
    await rmdir(path.dirname(this.staging)).catch(() => undefined);
  }
}
