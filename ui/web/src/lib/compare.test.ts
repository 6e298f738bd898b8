import { describe, expect, it } from 'vitest';
import { compareTraces, diffKind, diffTotals, flattenDiff } from './compare';
import { mk, tr } from './testutil';

describe('compareTraces', () => {
  const a = tr(mk('a', '', 0, 100, 'web', 'GET'), mk('b', 'a', 1, 10, 'cart', 'Get'), mk('c', 'a', 20, 30, 'db', 'Q'));
  const b = tr(
    mk('a', '', 0, 150, 'web', 'GET'),
    mk('c', 'a', 20, 30, 'db', 'Q'),
    mk('d', 'a', 60, 30, 'db', 'Q'),
    mk('e', 'a', 95, 10, 'fraud', 'Score'),
  );
  const tree = compareTraces(a, b);
  const rows = flattenDiff(tree);
  it('matches spans by service/operation path', () => {
    expect(rows.map((n) => `${n.service}:${n.operation}:${diffKind(n)}`)).toEqual([
      'web:GET:same',
      'cart:Get:only-a',
      'db:Q:changed',
      'fraud:Score:only-b',
    ]);
  });
  it('adds up counts and durations per side', () => {
    const db = rows.find((n) => n.service === 'db')!;
    expect(db.a).toEqual({ count: 1, total: 30 });
    expect(db.b).toEqual({ count: 2, total: 60 });
    expect(rows[0].a.total).toBe(100);
    expect(rows[0].b.total).toBe(150);
  });
  it('totals the kinds of difference', () => {
    expect(diffTotals(tree)).toEqual({ same: 1, onlyA: 1, onlyB: 1, changed: 1 });
  });
  it('keeps equal names under different parents apart', () => {
    const x = tr(mk('a', '', 0, 10, 's', 'root'), mk('b', 'a', 1, 1, 's', 'x'), mk('c', 'b', 1, 1, 's', 'x'));
    const rows2 = flattenDiff(compareTraces(x, x));
    expect(rows2.map((n) => n.depth)).toEqual([0, 1, 2]);
    expect(rows2.every((n) => diffKind(n) === 'same')).toBe(true);
  });
});
