import { describe, expect, it } from 'vitest';
import { findMatches } from './find';
import { layoutGraph } from './graph';
import { opStats, sortSummaries, summarize } from './stats';
import { mk, tr } from './testutil';

describe('layoutGraph', () => {
  it('puts callers left of callees', () => {
    const g = layoutGraph([
      { parent: 'web', child: 'api', callCount: 5 },
      { parent: 'api', child: 'db', callCount: 3 },
      { parent: 'web', child: 'db', callCount: 1 },
    ]);
    const x = Object.fromEntries(g.nodes.map((n) => [n.name, n.layer]));
    expect(x).toEqual({ web: 0, api: 1, db: 2 });
    expect(g.edges.every((e) => !e.back)).toBe(true);
  });
  it('survives cycles and self-calls', () => {
    const g = layoutGraph([
      { parent: 'a', child: 'b', callCount: 1 },
      { parent: 'b', child: 'a', callCount: 1 },
      { parent: 'b', child: 'b', callCount: 1 },
    ]);
    expect(g.nodes).toHaveLength(2);
    expect(g.edges.filter((e) => e.back)).toHaveLength(2);
  });
  it('lays out 50 services without overlap', () => {
    const links = [];
    for (let i = 1; i < 50; i++) links.push({ parent: `s${Math.floor((i - 1) / 4)}`, child: `s${i}`, callCount: i });
    const g = layoutGraph(links);
    expect(g.nodes).toHaveLength(50);
    const spots = new Set(g.nodes.map((n) => `${n.x},${n.y}`));
    expect(spots.size).toBe(50);
  });
});

describe('stats', () => {
  const b = mk('b', 'a', 10, 20, 'db', 'Q');
  b.error = true;
  const t = tr(mk('a', '', 0, 100, 'web', 'GET'), b, mk('c', 'a', 50, 40, 'db', 'Q'));
  it('aggregates per service and operation', () => {
    const s = opStats(t);
    const db = s.find((x) => x.service === 'db')!;
    expect(db).toMatchObject({ count: 2, errors: 1, total: 60, avg: 30, min: 20, max: 40, self: 60 });
    expect(s.find((x) => x.service === 'web')!.self).toBe(40);
  });
  it('sorts summaries', () => {
    const x = summarize(t);
    const y = { ...x, traceID: 'y', start: 5, duration: 500, spans: 1 };
    expect(sortSummaries([x, y], 'recent')[0].traceID).toBe('y');
    expect(sortSummaries([x, y], 'longest')[0].traceID).toBe('y');
    expect(sortSummaries([x, y], 'shortest')[0].traceID).toBe(x.traceID);
    expect(sortSummaries([x, y], 'spans')[0].traceID).toBe(x.traceID);
  });
});

describe('findMatches', () => {
  const s = mk('b', 'a', 1, 1, 'payments', 'Charge');
  s.tags = [{ key: 'http.status_code', value: 502 }];
  const t = tr(mk('a', '', 0, 10, 'web', 'GET /'), s);
  it('matches names, IDs and attributes, all words', () => {
    expect(findMatches(t, 'PAY').map((x) => x.spanID)).toEqual(['b']);
    expect(findMatches(t, '502').map((x) => x.spanID)).toEqual(['b']);
    expect(findMatches(t, 'charge 502').map((x) => x.spanID)).toEqual(['b']);
    expect(findMatches(t, 'charge web')).toEqual([]);
    expect(findMatches(t, '  ')).toEqual([]);
  });
});
