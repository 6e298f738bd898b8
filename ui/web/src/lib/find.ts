import type { Span, Trace } from './types';

// findMatches lists, in row order, the spans whose service, operation, span
// ID, attribute keys or values, resource values or event names contain the
// query (case-insensitive). Several words must all match.
export function findMatches(trace: Trace, query: string): Span[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return [];
  return trace.spans.filter((s) => {
    const hay = [s.service, s.operation, s.spanID, s.statusMessage];
    for (const t of s.tags) hay.push(t.key, String(t.value));
    for (const r of s.resource) hay.push(String(r.value));
    for (const e of s.events) hay.push(e.name);
    const text = hay.join('\n').toLowerCase();
    return words.every((w) => text.includes(w));
  });
}
