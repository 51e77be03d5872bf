/**
 * Redis connection settings for the job queue, from one `redis://` URL.
 *
 * Defaults are deliberately local: `redis://127.0.0.1:6379`, no password. A queue on
 * another machine must be named explicitly (`--redis redis://:secret@queue-host:6379/0`,
 * or `rediss://` for TLS), and docs/queue.md says how to bind and protect that server.
 * BullMQ needs `maxRetriesPerRequest: null` on worker connections so a command waiting
 * through a Redis restart is retried until the connection comes back instead of failing
 * the job; ioredis then reconnects on its own with the backoff below.
 */
import type { RedisOptions } from 'bullmq';
import { P2SamError } from '../errors';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** Reconnect delay after the n-th failed attempt: 100 ms growing to at most 2 s. */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(100 * 2 ** Math.max(0, attempt - 1), 2000);
}

/**
 * Parses a redis URL into ioredis options.
 *
 * @throws P2SamError INVALID_ARGUMENT when the URL is not redis:// or rediss://.
 * @example
 *   const opts = redisOptions('redis://:pw@10.0.0.5:6380/2');
 *   // { host: '10.0.0.5', port: 6380, db: 2, password: 'pw', ... }
 */
export function redisOptions(url: string = DEFAULT_REDIS_URL): RedisOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new P2SamError(
      'INVALID_ARGUMENT',
      `redis: expected a URL like redis://host:port/db, received ${JSON.stringify(url)}`,
    );
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:')
    throw new P2SamError(
      'INVALID_ARGUMENT',
      `redis: expected a redis:// or rediss:// URL, received ${JSON.stringify(url)}`,
    );
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0)
    throw new P2SamError(
      'INVALID_ARGUMENT',
      `redis: expected a database number after the '/', received ${JSON.stringify(parsed.pathname)}`,
    );
  return {
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
    db,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
    retryStrategy: reconnectDelayMs,
  };
}
