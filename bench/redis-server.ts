/**
 * A throw-away redis-server (Debian's binary) for the queue tests and the queue
 * benchmark: bound to 127.0.0.1 on a free port, RDB saves and AOF off, its data folder a
 * fresh temp dir. Only `restart` writes a snapshot, on purpose (SHUTDOWN SAVE), so a
 * restart keeps the queue as a persistent production server would.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import os from 'node:os';
import * as path from 'node:path';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** One PING over a raw socket: true when the server answers +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(500, () => done(false));
    s.once('error', () => done(false));
    s.connect(port, '127.0.0.1', () => s.write('PING\r\n'));
    s.once('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

export async function until(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 20_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface RedisServer {
  url: string;
  port: number;
  /** Snapshot (SHUTDOWN SAVE) and stop, then start again on the same port from the snapshot. */
  restart(downMs: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts redis-server bound to 127.0.0.1 on a free port, no RDB saves, no AOF, data
 * folder in a temp dir. Only the restart test writes a snapshot, on purpose.
 */
export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'p2sam-redis-'));
  let proc: ChildProcess | undefined;
  const launch = async () => {
    proc = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--loglevel',
        'warning',
      ],
      { stdio: 'ignore' },
    );
    const p = proc;
    await until(`redis-server on port ${port}`, async () => {
      if (p.exitCode !== null)
        throw new Error(`redis-server exited with ${p.exitCode} (is redis-server installed?)`);
      return ping(port);
    });
  };
  const shutdown = async (save: boolean) => {
    const p = proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    const s = new Socket();
    s.once('error', () => undefined);
    s.connect(port, '127.0.0.1', () => s.write(save ? 'SHUTDOWN SAVE\r\n' : 'SHUTDOWN NOSAVE\r\n'));
    const timer = setTimeout(() => p.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    s.destroy();
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    restart: async (downMs: number) => {
      await shutdown(true);
      if (!existsSync(path.join(dir, 'dump.rdb'))) throw new Error('SHUTDOWN SAVE wrote no snapshot');
      await new Promise((r) => setTimeout(r, downMs));
      await launch();
    },
    stop: () => shutdown(false),
  };
}
