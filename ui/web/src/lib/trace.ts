import type { Span, Trace } from './types';

// RawSpan is a span before buildTrace links it into the tree.
export type RawSpan = Omit<Span, 'index' | 'depth' | 'parent' | 'children' | 'selfTime' | 'hasChildren'>;

// buildTrace links spans into a tree: a span's parent is the span with its
// parentID, a span whose parent is missing (or that sits on a cycle) is a
// root. Spans come out depth-first, each span's children by start time. It
// never recurses, so a trace of any depth is safe.
export function buildTrace(raw: RawSpan[], traceID?: string): Trace {
  const spans: Span[] = raw.map((r) => ({
    ...r,
    index: 0,
    depth: 0,
    parent: null,
    children: [],
    selfTime: 0,
    hasChildren: false,
  }));
  const byID = new Map<string, Span>();
  for (const s of spans) if (!byID.has(s.spanID)) byID.set(s.spanID, s);

  const warnings: string[] = [];
  let orphans = 0;
  for (const s of spans) {
    if (!s.parentID || s.parentID === s.spanID) continue;
    const p = byID.get(s.parentID);
    if (p && p !== s) {
      s.parent = p;
      p.children.push(s);
    } else if (!p) {
      orphans++;
    }
  }
  const byStart = (a: Span, b: Span) => a.start - b.start || (a.spanID < b.spanID ? -1 : a.spanID > b.spanID ? 1 : 0);
  for (const s of spans) s.children.sort(byStart);

  const roots = spans.filter((s) => s.parent === null).sort(byStart);
  const ordered: Span[] = [];
  const seen = new Set<Span>();
  const walk = (root: Span) => {
    const stack: Span[] = [root];
    while (stack.length > 0) {
      const s = stack.pop()!;
      if (seen.has(s)) continue;
      seen.add(s);
      s.depth = s.parent ? s.parent.depth + 1 : 0;
      ordered.push(s);
      for (let i = s.children.length - 1; i >= 0; i--) stack.push(s.children[i]);
    }
  };
  roots.forEach(walk);
  // Spans on a parent cycle were never reached: cut each cycle open.
  for (const s of [...spans].sort(byStart)) {
    if (seen.has(s)) continue;
    if (s.parent) s.parent.children = s.parent.children.filter((c) => c !== s);
    s.parent = null;
    roots.push(s);
    walk(s);
    warnings.push(`span ${s.spanID} is on a parent cycle; it is shown as a root`);
  }
  if (orphans > 0) warnings.push(`${orphans} span(s) have a parent that is not in the trace`);

  let start = Infinity;
  let end = -Infinity;
  let depth = 0;
  let errors = 0;
  const svc = new Map<string, number>();
  ordered.forEach((s, i) => {
    s.index = i;
    s.hasChildren = s.children.length > 0;
    s.selfTime = selfTime(s);
    start = Math.min(start, s.start);
    end = Math.max(end, s.start + s.duration);
    depth = Math.max(depth, s.depth + 1);
    if (s.error) errors++;
    svc.set(s.service, (svc.get(s.service) ?? 0) + 1);
    for (const w of s.warnings) warnings.push(`${s.spanID}: ${w}`);
  });
  if (ordered.length === 0) {
    start = 0;
    end = 0;
  }
  const services = [...svc.entries()]
    .map(([name, count]) => ({ name, count }))
    .sort((a, b) => b.count - a.count || a.name.localeCompare(b.name));
  return {
    traceID: traceID ?? ordered[0]?.traceID ?? '',
    spans: ordered,
    roots,
    byID,
    start,
    end,
    duration: end - start,
    services,
    depth,
    errors,
    warnings,
    root: roots[0] ?? emptyRoot(),
  };
}

// selfTime is the part of s's duration that none of its children cover.
export function selfTime(s: Span): number {
  const from = s.start;
  const to = s.start + s.duration;
  const iv = s.children
    .map((c) => [Math.max(from, c.start), Math.min(to, c.start + c.duration)] as const)
    .filter(([a, b]) => b > a)
    .sort((a, b) => a[0] - b[0]);
  let covered = 0;
  let curA = -Infinity;
  let curB = -Infinity;
  for (const [a, b] of iv) {
    if (a > curB) {
      if (curB > curA) covered += curB - curA;
      curA = a;
      curB = b;
    } else if (b > curB) {
      curB = b;
    }
  }
  if (curB > curA) covered += curB - curA;
  return Math.max(0, s.duration - covered);
}

function emptyRoot(): Span {
  return {
    traceID: '', spanID: '', parentID: '', service: '', operation: '', kind: '', start: 0, duration: 0,
    tags: [], resource: [], events: [], links: [], statusCode: '', statusMessage: '', scopeName: '',
    scopeVersion: '', error: false, warnings: [], index: 0, depth: 0, parent: null, children: [],
    selfTime: 0, hasChildren: false,
  };
}

// visibleSpans is the list of rows shown when the spans in collapsed hide
// their descendants.
export function visibleSpans(trace: Trace, collapsed: ReadonlySet<string>): Span[] {
  if (collapsed.size === 0) return trace.spans;
  const out: Span[] = [];
  let hideBelow = -1; // depth under which rows are hidden, -1 for none
  for (const s of trace.spans) {
    if (hideBelow >= 0) {
      if (s.depth > hideBelow) continue;
      hideBelow = -1;
    }
    out.push(s);
    if (s.hasChildren && collapsed.has(s.spanID)) hideBelow = s.depth;
  }
  return out;
}

// collapsedToDepth is the set of spans to collapse so that rows down to depth
// d (0 for roots only) are shown.
export function collapsedToDepth(trace: Trace, d: number): Set<string> {
  const out = new Set<string>();
  for (const s of trace.spans) if (s.hasChildren && s.depth >= d) out.add(s.spanID);
  return out;
}

// ancestors lists s's ancestors, nearest first.
export function ancestors(s: Span): Span[] {
  const out: Span[] = [];
  for (let p = s.parent; p; p = p.parent) out.push(p);
  return out;
}

// spanPath is the service/operation path from the root to s, as compare uses.
export function spanPath(s: Span): string[] {
  const out = [opKey(s)];
  for (let p = s.parent; p; p = p.parent) out.push(opKey(p));
  return out.reverse();
}

export const opKey = (s: Span) => `${s.service}\u0000${s.operation}`;
