import { describe, expect, it } from 'vitest';
import { collapsedToDepth, selfTime, spanPath, visibleSpans } from './trace';
import { mk, tr } from './testutil';

describe('buildTrace', () => {
  it('orders spans depth-first, children by start time', () => {
    const t = tr(mk('c', 'a', 30, 10), mk('a', '', 0, 100), mk('b', 'a', 10, 10), mk('d', 'b', 12, 5));
    expect(t.spans.map((s) => s.spanID)).toEqual(['a', 'b', 'd', 'c']);
    expect(t.spans.map((s) => s.depth)).toEqual([0, 1, 2, 1]);
    expect(t.root.spanID).toBe('a');
    expect(t.depth).toBe(3);
    expect(t.duration).toBe(100);
  });
  it('shows spans with a missing parent as roots and says so', () => {
    const t = tr(mk('a', '', 0, 10), mk('b', 'zz', 5, 10));
    expect(t.roots.map((s) => s.spanID)).toEqual(['a', 'b']);
    expect(t.warnings.join()).toMatch(/1 span\(s\) have a parent that is not in the trace/);
  });
  it('cuts parent cycles open instead of looping', () => {
    const t = tr(mk('a', 'b', 0, 10), mk('b', 'a', 1, 10), mk('c', 'c', 2, 1));
    expect(t.spans).toHaveLength(3);
    expect(t.roots.length).toBeGreaterThanOrEqual(2);
    expect(t.warnings.some((w) => w.includes('cycle'))).toBe(true);
  });
  it('handles a chain deeper than the call stack', () => {
    const spans = [mk('s0', '', 0, 1e6)];
    for (let i = 1; i < 20000; i++) spans.push(mk(`s${i}`, `s${i - 1}`, i, 1e6 - 2 * i));
    const t = tr(...spans);
    expect(t.depth).toBe(20000);
    expect(t.spans[19999].spanID).toBe('s19999');
  });
  it('counts services and errors', () => {
    const b = mk('b', 'a', 1, 1, 'db');
    b.error = true;
    const t = tr(mk('a', '', 0, 10, 'web'), b, mk('c', 'a', 2, 1, 'db'));
    expect(t.services).toEqual([{ name: 'db', count: 2 }, { name: 'web', count: 1 }]);
    expect(t.errors).toBe(1);
  });
});

describe('selfTime', () => {
  it('subtracts the union of children, clipped to the span', () => {
    const t = tr(mk('a', '', 0, 100), mk('b', 'a', 10, 30), mk('c', 'a', 20, 30), mk('d', 'a', 90, 50));
    // children cover 10..50 and 90..100: 50 of 100.
    expect(selfTime(t.byID.get('a')!)).toBe(50);
    expect(t.byID.get('b')!.selfTime).toBe(30);
  });
});

describe('visibleSpans and collapsedToDepth', () => {
  const t = tr(mk('a', '', 0, 100), mk('b', 'a', 1, 10), mk('c', 'b', 2, 5), mk('d', 'a', 20, 10));
  it('hides the descendants of collapsed spans', () => {
    expect(visibleSpans(t, new Set(['b'])).map((s) => s.spanID)).toEqual(['a', 'b', 'd']);
    expect(visibleSpans(t, new Set(['a'])).map((s) => s.spanID)).toEqual(['a']);
    expect(visibleSpans(t, new Set()).length).toBe(4);
  });
  it('collapses to a depth', () => {
    expect(visibleSpans(t, collapsedToDepth(t, 0)).map((s) => s.spanID)).toEqual(['a']);
    expect(visibleSpans(t, collapsedToDepth(t, 1)).map((s) => s.spanID)).toEqual(['a', 'b', 'd']);
    expect(visibleSpans(t, collapsedToDepth(t, 5)).length).toBe(4);
  });
  it('gives paths of service and operation', () => {
    expect(spanPath(t.byID.get('c')!)).toEqual(['svc\u0000op-a', 'svc\u0000op-b', 'svc\u0000op-c']);
  });
});
