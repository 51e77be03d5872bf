/**
 * Creating output files so that they are complete or absent, and never written through
 * a symbolic link.
 *
 * The bytes go to a fresh temporary file in the destination's own folder, created with
 * O_CREAT|O_EXCL|O_NOFOLLOW (`wx` refuses an existing name, links included, so nothing
 * planted at the temporary name is followed), and the file is then renamed over the
 * destination. rename(2) replaces a link at the destination by the
 * file instead of writing to the link's target, and it is atomic: a reader, or a run
 * killed at any moment (SIGKILL, a full disk, a file-size limit), sees either the old
 * file or the complete new one. A failed write removes its temporary file and throws
 * the filesystem's error (ENOSPC, EFBIG, EACCES …) for the caller to stop on.
 *
 * No fsync: the page cache outlives a killed process, which is what this protects
 * against; surviving power loss would need an fsync of file and folder per output and
 * is not promised.
 */
import { closeSync, openSync, renameSync, unlinkSync, writeSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';

let counter = 0;

function tempName(dest: string): string {
  counter = (counter + 1) % 1e9;
  // Hidden, and named after the destination so a leftover (power loss) says what it was.
  return path.join(path.dirname(dest), `.${path.basename(dest)}.${process.pid}.${counter}.tmp`);
}

/** Writes `bytes` to `dest` atomically without following links (see the module comment). */
export async function writeFileAtomic(dest: string, bytes: Uint8Array | string): Promise<void> {
  const tmp = tempName(dest);
  const handle = await fsp.open(tmp, 'wx', 0o644);
  try {
    await handle.writeFile(bytes);
  } catch (err) {
    await handle.close().catch(() => undefined);
    await fsp.unlink(tmp).catch(() => undefined);
    throw err;
  }
  await handle.close();
  try {
    await fsp.rename(tmp, dest);
  } catch (err) {
    await fsp.unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** The synchronous twin, for exit paths that cannot wait (a second Ctrl-C). */
export function writeFileAtomicSync(dest: string, bytes: Uint8Array | string): void {
  const tmp = tempName(dest);
  const fd = openSync(tmp, 'wx', 0o644);
  try {
    const buf = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
    for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
  } catch (err) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // Nothing more to clean up.
    }
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, dest);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // Nothing more to clean up.
    }
    throw err;
  }
}
