/**
 * The streams a command writes to, passed in rather than taken from `process` so that
 * `p2sam demo` can run the segment and eval steps in-process with its own wording.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

export interface CliIO {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

let version: string | undefined;

/** The package's version, read once from package.json (dist/lib/cli → the package root). */
export function packageVersion(): string {
  version ??= readPackageVersion();
  return version;
}

function readPackageVersion(): string {
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(path.resolve(__dirname, rel), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'p2sam-native' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // Try the next layout (running from sources vs from dist/).
    }
  }
  return 'unknown';
}
