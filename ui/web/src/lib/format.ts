// Formatting of times and durations, and the time scale of the timeline.
// Times are Unix microseconds, durations microseconds.

export type TimeZone = 'local' | 'utc';

const trim = (n: number, digits: number) => {
  const s = n.toFixed(digits);
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
};

// formatDuration renders a duration compactly: 850µs, 12.35ms, 1.2s, 2m 3s.
export function formatDuration(us: number): string {
  if (!Number.isFinite(us)) return '–';
  if (us === 0) return '0';
  const neg = us < 0 ? '-' : '';
  const a = Math.abs(us);
  if (a < 1) return `${neg}${trim(a * 1000, 0)}ns`;
  if (a < 1000) return `${neg}${trim(a, a < 10 ? 2 : a < 100 ? 1 : 0)}µs`;
  if (a < 1e6) {
    const ms = a / 1000;
    return `${neg}${trim(ms, ms < 10 ? 2 : ms < 100 ? 1 : 0)}ms`;
  }
  if (a < 60e6) {
    const s = a / 1e6;
    return `${neg}${trim(s, s < 10 ? 2 : 1)}s`;
  }
  const totalS = Math.round(a / 1e6);
  const h = Math.floor(totalS / 3600);
  const m = Math.floor((totalS % 3600) / 60);
  const s = totalS % 60;
  if (h > 0) return `${neg}${h}h ${m}m`;
  return `${neg}${m}m ${s}s`;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

function parts(us: number, tz: TimeZone) {
  const d = new Date(Math.floor(us / 1000));
  const u = tz === 'utc';
  return {
    y: u ? d.getUTCFullYear() : d.getFullYear(),
    mo: (u ? d.getUTCMonth() : d.getMonth()) + 1,
    d: u ? d.getUTCDate() : d.getDate(),
    h: u ? d.getUTCHours() : d.getHours(),
    mi: u ? d.getUTCMinutes() : d.getMinutes(),
    s: u ? d.getUTCSeconds() : d.getSeconds(),
    ms: Math.floor(us / 1000) % 1000,
  };
}

// formatTime renders an instant as "2025-05-01 12:34:56.789" (+ " UTC").
export function formatTime(us: number, tz: TimeZone): string {
  if (!Number.isFinite(us)) return '–';
  const p = parts(us, tz);
  return `${p.y}-${pad(p.mo)}-${pad(p.d)} ${pad(p.h)}:${pad(p.mi)}:${pad(p.s)}.${pad((p.ms + 1000) % 1000, 3)}${tz === 'utc' ? ' UTC' : ''}`;
}

// formatClock renders the time of day only: "12:34:56".
export function formatClock(us: number, tz: TimeZone): string {
  const p = parts(us, tz);
  return `${pad(p.h)}:${pad(p.mi)}:${pad(p.s)}`;
}

// formatRelative renders how long ago an instant was: "5 minutes ago".
export function formatRelative(us: number, nowUs: number): string {
  const s = Math.round((nowUs - us) / 1e6);
  if (s < 0) return 'in the future';
  if (s < 45) return 'just now';
  const units: [number, string][] = [[86400, 'day'], [3600, 'hour'], [60, 'minute']];
  for (const [size, name] of units) {
    if (s >= size) {
      const n = Math.round(s / size);
      return `${n} ${name}${n === 1 ? '' : 's'} ago`;
    }
  }
  return `${s} seconds ago`;
}

// niceStep is the tick spacing (1, 2 or 5 × 10^k) that cuts span into about
// n intervals.
export function niceStep(span: number, n: number): number {
  if (!(span > 0) || !(n > 0)) return 1;
  const raw = span / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  const nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return nice * mag;
}

// ticks lists tick offsets from 0 (in the view's time, relative to the
// trace start) that fall within [from, to], about n of them.
export function ticks(from: number, to: number, n: number): number[] {
  if (!(to > from)) return [from];
  const step = niceStep(to - from, n);
  const out: number[] = [];
  for (let t = Math.ceil(from / step) * step; t <= to + step * 1e-9; t += step) out.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  return out;
}

// TimeScale maps times (relative to a trace's start) in the view window
// [viewStart, viewEnd] to fractions of a track's width.
export class TimeScale {
  constructor(
    readonly viewStart: number,
    readonly viewEnd: number,
  ) {}
  get span(): number {
    return Math.max(this.viewEnd - this.viewStart, 1e-9);
  }
  // x is the fraction (0 at viewStart, 1 at viewEnd) of a relative time.
  x(t: number): number {
    return (t - this.viewStart) / this.span;
  }
  // bar is the [left, width] in fractions of a span clipped to the view, or
  // null when it is wholly outside.
  bar(start: number, duration: number): [number, number] | null {
    const a = Math.max(start, this.viewStart);
    const b = Math.min(start + duration, this.viewEnd);
    if (b < a || start > this.viewEnd || start + duration < this.viewStart) return null;
    return [this.x(a), (b - a) / this.span];
  }
}

// parseDurationInput checks a duration typed in the search form and returns
// it as a Go duration string for the API ("" for empty), or throws.
export function parseDurationInput(s: string): string {
  const v = s.trim().replace(/\s+/g, '');
  if (v === '') return '';
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(v)) throw new Error(`"${s}" is not a duration like 100ms, 1.5s or 2m`);
  return v.replace(/µs/g, 'us');
}
