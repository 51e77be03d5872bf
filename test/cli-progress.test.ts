/** lib/cli/progress.ts: the clock, rate/ETA and bar formatting of the progress line. */
import { describe, expect, it } from 'vitest';
import { formatClock, rateAndEta, renderBar } from '../lib/cli/progress';

describe('progress formatting', () => {
  it('formats clocks and estimates rate/ETA from finished plus in-flight work', () => {
    expect(formatClock(7)).toBe('0:07');
    expect(formatClock(3909)).toBe('1:05:09');
    expect(formatClock(NaN)).toBe('--:--');
    expect(rateAndEta({ total: 10, done: 0, current: 0, name: '', elapsedMs: 1000 })).toEqual({});
    const { rate, eta } = rateAndEta({ total: 10, done: 1, current: 1, name: '', elapsedMs: 4000 });
    expect(rate).toBeCloseTo(0.5, 12);
    expect(eta).toBeCloseTo(16, 12);
  });

  it('draws a bar that fits the terminal width', () => {
    const st = { total: 8, done: 4, current: 0, name: 'some/long/path/frame4.png', elapsedMs: 2000 };
    for (const cols of [80, 200]) {
      const line = renderBar(st, cols);
      expect(line.length).toBeLessThan(cols);
      expect(line).toMatch(/^\[#+-+\] 4\/8 +50% {2}2\.0 targets\/s {2}ETA 0:02/);
    }
    // Narrow terminals lose the bar and then the rate, never the count or the ETA.
    expect(renderBar(st, 40)).toMatch(/^4\/8 +50% {2}2\.0 targets\/s {2}ETA 0:02/);
    expect(renderBar(st, 30)).toMatch(/^4\/8 +50% {2}ETA 0:02/);
    expect(renderBar(st, 30).length).toBeLessThan(30);
    expect(renderBar(st, 200)).toContain('frame4.png');
    expect(renderBar({ ...st, done: 1, elapsedMs: 5000 }, 80)).toContain('5.0 s/target');
  });
});
