import { describe, expect, it } from 'vitest';
import { formatDuration, formatRelative, formatTime, niceStep, parseDurationInput, ticks, TimeScale } from './format';

describe('formatDuration', () => {
  it('picks a unit', () => {
    expect(formatDuration(0)).toBe('0');
    expect(formatDuration(0.5)).toBe('500ns');
    expect(formatDuration(850)).toBe('850µs');
    expect(formatDuration(1500)).toBe('1.5ms');
    expect(formatDuration(12345)).toBe('12.3ms');
    expect(formatDuration(1.2e6)).toBe('1.2s');
    expect(formatDuration(123e6)).toBe('2m 3s');
    expect(formatDuration(3.9e9)).toBe('1h 5m');
    expect(formatDuration(-2000)).toBe('-2ms');
  });
});

describe('formatTime', () => {
  it('renders UTC', () => {
    expect(formatTime(Date.UTC(2025, 4, 1, 12, 34, 56, 789) * 1000, 'utc')).toBe('2025-05-01 12:34:56.789 UTC');
  });
  it('renders how long ago', () => {
    const now = 1e15;
    expect(formatRelative(now - 10e6, now)).toBe('just now');
    expect(formatRelative(now - 300e6, now)).toBe('5 minutes ago');
    expect(formatRelative(now - 86400e6, now)).toBe('1 day ago');
  });
});

describe('time scale', () => {
  it('chooses nice steps and ticks', () => {
    expect(niceStep(100, 5)).toBe(20);
    expect(niceStep(1000, 4)).toBe(500);
    expect(ticks(0, 100, 5)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(ticks(15, 55, 4)).toEqual([20, 30, 40, 50]);
  });
  it('maps times to fractions and clips bars to the view', () => {
    const s = new TimeScale(100, 300);
    expect(s.x(200)).toBe(0.5);
    expect(s.bar(150, 50)).toEqual([0.25, 0.25]);
    expect(s.bar(50, 100)).toEqual([0, 0.25]);
    expect(s.bar(400, 10)).toBeNull();
    expect(s.bar(0, 50)).toBeNull();
  });
});

describe('parseDurationInput', () => {
  it('accepts Go durations and µs', () => {
    expect(parseDurationInput(' 100ms ')).toBe('100ms');
    expect(parseDurationInput('1.5s')).toBe('1.5s');
    expect(parseDurationInput('250µs')).toBe('250us');
    expect(parseDurationInput('1m30s')).toBe('1m30s');
    expect(parseDurationInput('')).toBe('');
  });
  it('rejects anything else', () => {
    expect(() => parseDurationInput('100')).toThrow(/not a duration/);
    expect(() => parseDurationInput('fast')).toThrow();
  });
});
