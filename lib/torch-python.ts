/**
 * The Python that runs the project's PyTorch scripts (python/: `p2sam export`, the
 * TorchScript testkit): the first of `P2SAM_PYTHON`, `python3` on the PATH and
 * /usr/bin/python3 that can import torch. A PATH python3 from pyenv or a venv often lacks
 * torch while the system one (Debian's python3-torch) has it, hence the fallback.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { P2SamError } from './errors';

/** The project's python/ directory (shipped with the package): beside lib/ when running
 * from source, two levels up from dist/lib/ when compiled. */
export const PYTHON_DIR =
  [path.resolve(__dirname, '..', 'python'), path.resolve(__dirname, '..', '..', 'python')].find((d) =>
    existsSync(path.join(d, 'p2sam_export.py')),
  ) ?? path.resolve(__dirname, '..', '..', 'python');

let found: string | undefined;

/**
 * @example
 * const python = findTorchPython(); // '/usr/bin/python3'
 * spawnSync(python, [path.join(PYTHON_DIR, 'p2sam_export.py'), '--help']);
 */
export function findTorchPython(): string {
  if (found) return found;
  const candidates = [process.env.P2SAM_PYTHON, 'python3', '/usr/bin/python3'].filter(
    (c): c is string => !!c,
  );
  const tried: string[] = [];
  for (const python of candidates) {
    const r = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
    if (r.status === 0) {
      found = python;
      return python;
    }
    tried.push(
      `${python} (${r.error ? r.error.message : (r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`)})`,
    );
  }
  throw new P2SamError(
    'BACKEND_UNAVAILABLE',
    `no Python with PyTorch found (set P2SAM_PYTHON, or apt-get install python3-torch); tried ${tried.join('; ')}`,
  );
}
