/**
 * Progress over a sequence of targets, always on stderr so stdout stays clean for
 * results (`--json` lines) in pipelines.
 *
 * - 'bar' (stderr is a TTY): one line redrawn in place with `\r` + erase-line, showing
 *   done/total, the current target, the rate and an ETA. Redraws are throttled so a fast
 *   sequence does not spend its time repainting the terminal.
 * - 'lines' (stderr is a file or a pipe, e.g. CI logs): one plain line per finished
 *   target, no control characters.
 * - 'none' (`--quiet`).
 *
 * Rate and ETA count the fraction of the target in flight (from the engine's
 * onProgress), so the estimate moves during long targets instead of jumping per target.
 */

export type ProgressMode = 'bar' | 'lines' | 'none';

export interface ProgressState {
  total: number;
  done: number;
  /** 0..1 of the target in flight. */
  current: number;
  name: string;
  elapsedMs: number;
}

/** `0:07`, `1:05:09`; `--:--` while unknown. */
export function formatClock(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** Targets per second and seconds left; undefined until there is something to go on. */
export function rateAndEta(st: ProgressState): { rate?: number; eta?: number } {
  const effective = st.done + Math.min(Math.max(st.current, 0), 1);
  if (effective <= 0 || st.elapsedMs <= 0) return {};
  const rate = effective / (st.elapsedMs / 1000);
  return { rate, eta: Math.max(0, st.total - effective) / rate };
}

function formatRate(rate: number | undefined): string {
  if (rate === undefined) return '-- targets/s';
  // Slow models (ViT-H on a CPU) run well under one target per second; say s/target then.
  return rate >= 1 ? `${rate.toFixed(1)} targets/s` : `${(1 / rate).toFixed(1)} s/target`;
}

/**
 * The bar line for a terminal `columns` wide (no control characters). Pieces are dropped
 * in order of least use as the terminal narrows: the target name, then the bar, then the
 * rate; count, percentage and ETA always stay.
 */
export function renderBar(st: ProgressState, columns: number): string {
  const { rate, eta } = rateAndEta(st);
  const frac = st.total === 0 ? 1 : Math.min(1, (st.done + st.current) / st.total);
  const count = `${st.done}/${st.total} ${String(Math.floor(frac * 100)).padStart(3)}%`;
  const etaText = `ETA ${formatClock(eta ?? NaN)}`;
  const rateText = formatRate(rate);
  const room = Math.max(20, columns) - 1;
  const full = `${count}  ${rateText}  ${etaText}`;
  const bar = (width: number) => {
    const filled = Math.round(frac * width);
    return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] `;
  };
  let line: string;
  // Leave about 16 columns for the target name when the terminal allows it.
  const barWidth = Math.min(30, Math.max(10, room - full.length - 3 - 16));
  if (full.length + barWidth + 3 <= room) line = bar(barWidth) + full;
  else if (full.length <= room) line = full;
  else line = `${count}  ${etaText}`;
  const left = room - line.length - 2;
  if (left > 3 && st.name) {
    // Too long: keep the end of the path, where the file name is.
    const name = st.name.length > left ? `…${st.name.slice(st.name.length - left + 1)}` : st.name;
    line += `  ${name}`;
  }
  return line.slice(0, room);
}

export class ProgressReporter {
  readonly mode: ProgressMode;
  #err: NodeJS.WriteStream;
  #state: ProgressState = { total: 0, done: 0, current: 0, name: '', elapsedMs: 0 };
  #t0 = 0;
  #lastDraw = 0;
  #drawn = false;

  constructor(mode: ProgressMode, err: NodeJS.WriteStream = process.stderr) {
    this.mode = mode;
    this.#err = err;
  }

  static auto(quiet: boolean, err: NodeJS.WriteStream = process.stderr): ProgressReporter {
    return new ProgressReporter(quiet ? 'none' : err.isTTY ? 'bar' : 'lines', err);
  }

  start(total: number): void {
    this.#t0 = performance.now();
    this.#state = { total, done: 0, current: 0, name: '', elapsedMs: 0 };
    this.#draw(true);
  }

  /** The target in flight and how far it is (0..1). */
  update(name: string, fraction: number): void {
    this.#state.name = name;
    this.#state.current = fraction;
    this.#draw(false);
  }

  /** A target finished (successfully or not); `note` is the line-mode message. */
  targetDone(name: string, note: string): void {
    this.#state.done++;
    this.#state.current = 0;
    this.#state.name = name;
    if (this.mode === 'lines') {
      this.#state.elapsedMs = performance.now() - this.#t0;
      const { rate, eta } = rateAndEta(this.#state);
      const tail = this.#state.done < this.#state.total ? `, ETA ${formatClock(eta ?? NaN)}` : '';
      this.#err.write(
        `p2sam: [${this.#state.done}/${this.#state.total}] ${name}: ${note} (${formatRate(rate)}${tail})\n`,
      );
    } else {
      this.#draw(true);
    }
  }

  /** Writes a whole line to `stream` without tearing the bar: clear, write, redraw. */
  print(stream: NodeJS.WritableStream, line: string): void {
    const had = this.#drawn;
    this.#clear();
    stream.write(line.endsWith('\n') ? line : `${line}\n`);
    if (had) this.#draw(true);
  }

  /** A human message on stderr (warnings, notices); suppressed only in 'none' mode for notices. */
  log(line: string): void {
    this.print(this.#err, line);
  }

  finish(): void {
    this.#clear();
  }

  #clear(): void {
    if (this.mode === 'bar' && this.#drawn) {
      this.#err.write('\r\x1b[2K');
      this.#drawn = false;
    }
  }

  #draw(force: boolean): void {
    if (this.mode !== 'bar') return;
    const now = performance.now();
    if (!force && now - this.#lastDraw < 100) return;
    this.#lastDraw = now;
    this.#state.elapsedMs = now - this.#t0;
    this.#err.write(`\r\x1b[2K${renderBar(this.#state, this.#err.columns || 80)}`);
    this.#drawn = true;
  }
}
