/**
 * CPU time of the JS (main) thread alone, for tests about blocking the event loop.
 *
 * Wall-clock lag measures the machine as much as our code: on a shared, loaded machine
 * the process is descheduled for tens of milliseconds at any moment. The time the JS
 * thread itself spends on the CPU during a call is what our code costs it, and an upper
 * bound on its longest synchronous stretch. Linux exposes it per thread in
 * /proc/self/task/<tid>/schedstat (first field, nanoseconds on CPU); the main thread's
 * tid is the pid. Elsewhere the event loop's active time (eventLoopUtilization) stands
 * in, which counts descheduled time too.
 */
import { existsSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;
export const HAS_THREAD_CPU = existsSync(SCHEDSTAT);

function threadCpuMs(): number {
  return Number(readFileSync(SCHEDSTAT, 'utf8').split(' ')[0]) / 1e6;
}

/** Runs `work` and returns the JS thread's busy time during it, in ms, and its result. */
export async function jsThreadBusyMs<T>(
  work: () => Promise<T>,
): Promise<{ busyMs: number; wallMs: number; value: T }> {
  const t0 = performance.now();
  if (HAS_THREAD_CPU) {
    const c0 = threadCpuMs();
    const value = await work();
    // The two reads of schedstat themselves cost ~0.05 ms; negligible here.
    return { busyMs: threadCpuMs() - c0, wallMs: performance.now() - t0, value };
  }
  const e0 = performance.eventLoopUtilization();
  const value = await work();
  return { busyMs: performance.eventLoopUtilization(e0).active, wallMs: performance.now() - t0, value };
}
