import type { Trace } from './types';

// OpStats aggregates the spans of one service and operation in a trace.
export interface OpStats {
  service: string;
  operation: string;
  count: number;
  errors: number;
  total: number;
  avg: number;
  min: number;
  max: number;
  self: number; // total self time
  selfAvg: number;
}

export function opStats(trace: Trace): OpStats[] {
  const m = new Map<string, OpStats>();
  for (const s of trace.spans) {
    const key = `${s.service}\u0000${s.operation}`;
    let st = m.get(key);
    if (!st) {
      st = { service: s.service, operation: s.operation, count: 0, errors: 0, total: 0, avg: 0, min: Infinity, max: 0, self: 0, selfAvg: 0 };
      m.set(key, st);
    }
    st.count++;
    if (s.error) st.errors++;
    st.total += s.duration;
    st.self += s.selfTime;
    st.min = Math.min(st.min, s.duration);
    st.max = Math.max(st.max, s.duration);
  }
  const out = [...m.values()];
  for (const st of out) {
    st.avg = st.total / st.count;
    st.selfAvg = st.self / st.count;
  }
  return out.sort((a, b) => b.self - a.self || a.service.localeCompare(b.service) || a.operation.localeCompare(b.operation));
}

// TraceSummary is one search result.
export interface TraceSummary {
  traceID: string;
  service: string;
  operation: string;
  start: number;
  duration: number;
  spans: number;
  errors: number;
  services: { name: string; count: number }[];
}

export function summarize(t: Trace): TraceSummary {
  return {
    traceID: t.traceID,
    service: t.root.service,
    operation: t.root.operation,
    start: t.start,
    duration: t.duration,
    spans: t.spans.length,
    errors: t.errors,
    services: t.services,
  };
}

export type SortOrder = 'recent' | 'longest' | 'shortest' | 'spans';

export function sortSummaries(list: TraceSummary[], order: SortOrder): TraceSummary[] {
  const out = [...list];
  const cmp: Record<SortOrder, (a: TraceSummary, b: TraceSummary) => number> = {
    recent: (a, b) => b.start - a.start,
    longest: (a, b) => b.duration - a.duration,
    shortest: (a, b) => a.duration - b.duration,
    spans: (a, b) => b.spans - a.spans,
  };
  return out.sort((a, b) => cmp[order](a, b) || a.traceID.localeCompare(b.traceID));
}
