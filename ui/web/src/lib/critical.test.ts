import { describe, expect, it } from 'vitest';
import { criticalPath } from './critical';
import { mk, tr } from './testutil';

const sections = (t: ReturnType<typeof tr>) => criticalPath(t).map((s) => [s.span.spanID, s.start, s.end]);

describe('criticalPath', () => {
  it('is the root alone when it has no children', () => {
    expect(sections(tr(mk('a', '', 0, 10)))).toEqual([['a', 0, 10]]);
  });
  it('follows the last-finishing child and fills gaps with the parent', () => {
    // a: 0..100; b: 10..40; c: 50..90 (c finishes last); d inside c 60..80.
    const t = tr(mk('a', '', 0, 100), mk('b', 'a', 10, 30), mk('c', 'a', 50, 40), mk('d', 'c', 60, 20));
    expect(sections(t)).toEqual([
      ['a', 90, 100],
      ['c', 80, 90],
      ['d', 60, 80],
      ['c', 50, 60],
      ['a', 40, 50],
      ['b', 10, 40],
      ['a', 0, 10],
    ]);
  });
  it('skips children that overlap the child already on the path', () => {
    // b 10..60 and c 20..90 overlap; c is on the path, b ends after c starts.
    const t = tr(mk('a', '', 0, 100), mk('b', 'a', 10, 50), mk('c', 'a', 20, 70));
    expect(sections(t)).toEqual([
      ['a', 90, 100],
      ['c', 20, 90],
      ['a', 0, 20],
    ]);
  });
  it('clips children that outlive their parent', () => {
    const t = tr(mk('a', '', 0, 50), mk('b', 'a', 40, 100));
    expect(sections(t)).toEqual([
      ['b', 40, 50],
      ['a', 0, 40],
    ]);
  });
  it('terminates on zero-length spans', () => {
    const t = tr(mk('a', '', 0, 10), mk('b', 'a', 5, 0), mk('c', 'a', 5, 0));
    const s = criticalPath(t);
    expect(s.length).toBeGreaterThan(0);
    expect(s.reduce((n, x) => n + (x.end - x.start), 0)).toBe(10);
  });
  it('covers the root exactly once on a large trace', () => {
    const spans = [mk('r', '', 0, 1e6)];
    for (let i = 1; i < 5000; i++) spans.push(mk(`s${i}`, i < 10 ? 'r' : `s${Math.floor(i / 10)}`, (i * 37) % 900000, 1000 + (i % 50000)));
    const s = criticalPath(tr(...spans));
    expect(s.reduce((n, x) => n + (x.end - x.start), 0)).toBe(1e6);
  });
});
