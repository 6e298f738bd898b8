import type { Span, Trace } from './types';

// A section of the critical path: the part [start, end] of span's time that
// the trace's end waited on.
export interface Section {
  span: Span;
  start: number;
  end: number;
}

// criticalPath walks back from the end of the root span: at each point it
// follows the child that finished last before that point, and the parent's
// own time fills the gaps (Jaeger's algorithm). Children are clipped to their
// parent's time; sections come out latest first. It never recurses.
export function criticalPath(trace: Trace): Section[] {
  const root = trace.root;
  if (!root || !root.spanID) return [];
  // Clipped times; t.spans is depth-first, so parents come first.
  const bounds = new Map<Span, [number, number]>();
  for (const s of trace.spans) {
    const pb = s.parent ? bounds.get(s.parent) : undefined;
    if (!pb) {
      bounds.set(s, [s.start, s.start + s.duration]);
      continue;
    }
    const a = Math.max(s.start, pb[0]);
    const b = Math.min(s.start + s.duration, pb[1]);
    bounds.set(s, b >= a ? [a, b] : [pb[0], pb[0]]);
  }
  const clip = (s: Span) => bounds.get(s);

  const out: Section[] = [];
  let span = root;
  let until = root.start + root.duration;
  let returning = false; // whether we came back up from a child
  for (let guard = 0; guard < trace.spans.length * 4 + 10; guard++) {
    let best: Span | null = null;
    let bestEnd = -Infinity;
    for (const c of span.children) {
      const cb = clip(c);
      if (!cb || (cb[1] <= cb[0] && c.duration > 0)) continue;
      const fits = returning ? cb[1] < until : cb[1] <= until;
      if (fits && cb[1] > bestEnd) {
        best = c;
        bestEnd = cb[1];
      }
    }
    if (best) {
      if (bestEnd < until) out.push({ span, start: bestEnd, end: until });
      span = best;
      until = bestEnd;
      returning = false;
      continue;
    }
    const sb = clip(span)!;
    if (until > sb[0]) out.push({ span, start: sb[0], end: until });
    if (span === root || !span.parent) break;
    until = sb[0];
    span = span.parent;
    returning = true;
  }
  return out;
}

// criticalBySpan groups the sections by span ID.
export function criticalBySpan(sections: Section[]): Map<string, Section[]> {
  const m = new Map<string, Section[]>();
  for (const s of sections) {
    const l = m.get(s.span.spanID);
    if (l) l.push(s);
    else m.set(s.span.spanID, [s]);
  }
  return m;
}
