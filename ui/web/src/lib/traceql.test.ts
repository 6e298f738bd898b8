import { describe, expect, it } from 'vitest';
import { caretLine, complete, completionAt, coveringLookback, likeThis, lookbackMs, offsetAt, parseErrorAt, quote, searchWindow, tagSuggestions, valueSuggestions, type Completion } from './traceql';

// at splits a text with a ‸ marking the caret.
function at(s: string): [string, number] {
  const i = s.indexOf('‸');
  return [s.slice(0, i) + s.slice(i + 1), i];
}

const ctx = (s: string) => completionAt(...at(s));

describe('parse errors', () => {
  it('reads the line and column of the server answer', () => {
    expect(parseErrorAt('invalid TraceQL query: parse error at line 2, col 14: expected a value, found }\n')).toEqual({
      line: 2,
      col: 14,
      message: 'expected a value, found }',
    });
    expect(parseErrorAt('invalid limit: "x" is not a positive whole number')).toBeNull();
  });
  it('finds the offset of a column in characters, not UTF-16 units', () => {
    const q = '{ name = "😀" &&\n  span.x = }';
    expect(offsetAt(q, 1, 1)).toBe(0);
    expect(offsetAt(q, 1, 14)).toBe(q.indexOf('&&'));
    expect(offsetAt(q, 2, 12)).toBe(q.indexOf('}'));
    expect(offsetAt(q, 2, 99)).toBe(q.length); // clamped to the line
    expect(offsetAt(q, 9, 1)).toBe(q.length);
  });
  it('puts a caret under the column, tabs kept', () => {
    expect(caretLine('{ a = }\n\t{ b = }', 2, 7)).toEqual({ line: '\t{ b = }', pad: '\t     ' });
  });
});

describe('completionAt', () => {
  it('completes names after {', () => {
    expect(ctx('{ ‸')).toMatchObject({ kind: 'tag', scope: 'any', prefix: '', query: '' });
    expect(ctx('{‸}')).toMatchObject({ kind: 'tag', from: 1, to: 1 });
    expect(ctx('{ na‸ }')).toMatchObject({ kind: 'tag', scope: 'any', prefix: 'na', from: 2, to: 4 });
  });
  it('knows the scope', () => {
    expect(ctx('{ span.ht‸')).toMatchObject({ kind: 'tag', scope: 'span', prefix: 'ht', from: 2 });
    expect(ctx('{ resource.‸')).toMatchObject({ kind: 'tag', scope: 'resource', prefix: '' });
    expect(ctx('{ .‸')).toMatchObject({ kind: 'tag', scope: 'unscoped', prefix: '' });
    expect(ctx('{ span.http.me‸thod = 1 }')).toMatchObject({ kind: 'tag', scope: 'span', prefix: 'http.me', to: 18 });
  });
  it('completes the next condition, narrowed by the ones before', () => {
    expect(ctx('{ resource.service.name = "a b" && span.‸')).toMatchObject({ kind: 'tag', scope: 'span', query: '{ resource.service.name = "a b" }' });
    expect(ctx('{ a = 1 || (‸')).toMatchObject({ kind: 'tag', query: '{ a = 1 }' });
    expect(ctx('{ a = 1 } >> { ‸')).toMatchObject({ kind: 'tag', query: '' });
  });
  it('completes values after a comparison', () => {
    expect(ctx('{ span.http.method = ‸')).toMatchObject({ kind: 'value', tag: 'span.http.method', prefix: '', query: '' });
    expect(ctx('{ status=er‸')).toMatchObject({ kind: 'value', tag: 'status', prefix: 'er' });
    expect(ctx('{ span."a \\"b\\"" = ‸')).toMatchObject({ kind: 'value', tag: 'span."a \\"b\\""' });
    expect(ctx('{ ."a b" = "x‸')).toMatchObject({ kind: 'value', tag: '."a b"', prefix: 'x' });
    expect(ctx('{ x = 1 && resource.service.name != "fro‸" }')).toMatchObject({
      kind: 'value',
      tag: 'resource.service.name',
      prefix: 'fro',
      from: 36,
      to: 41,
      query: '{ x = 1 }',
    });
  });
  it('offers nothing elsewhere', () => {
    expect(ctx('‸')).toBeNull();
    expect(ctx('{ a = 1 } ‸')).toBeNull();
    expect(ctx('{ a = "x" && b = "y" } ‸')).toBeNull();
    expect(ctx('{ a = "x && ‸" }')).toMatchObject({ kind: 'value', prefix: 'x && ' });
    expect(ctx('{ a = 1 ‸')).toBeNull();
    expect(ctx('{ a ‸')).toBeNull();
  });
});

const tags = [
  { name: 'resource', tags: ['host.name', 'service.name'] },
  { name: 'span', tags: ['http.method', 'payment.method', 'odd key'] },
  { name: 'intrinsic', tags: ['duration', 'name', 'status'] },
];

describe('suggestions', () => {
  it('lists the names of a scope', () => {
    const c = ctx('{ span.‸') as Completion & { kind: 'tag' };
    expect(tagSuggestions(tags, c).map((s) => s.insert)).toEqual(['span.http.method', 'span.payment.method', 'span."odd key"']);
    const d = ctx('{ span.pay‸') as Completion & { kind: 'tag' };
    expect(tagSuggestions(tags, d).map((s) => s.insert)).toEqual(['span.payment.method']);
  });
  it('lists every scope and the intrinsics for a bare word', () => {
    const c = ctx('{ ‸') as Completion & { kind: 'tag' };
    expect(tagSuggestions(tags, c).map((s) => s.insert)).toContain('resource.service.name');
    expect(tagSuggestions(tags, c).map((s) => s.insert)).toContain('status');
    const d = ctx('{ meth‸') as Completion & { kind: 'tag' };
    expect(tagSuggestions(tags, d).map((s) => s.insert)).toEqual(['span.http.method', 'span.payment.method']);
    const e = ctx('{ .‸') as Completion & { kind: 'tag' };
    expect(tagSuggestions(tags, e).map((s) => s.insert)).toEqual(['.http.method', '.payment.method', '."odd key"', '.host.name', '.service.name']);
  });
  it('quotes string values, not the others', () => {
    const c = ctx('{ x = "ca‸') as Completion & { kind: 'value' };
    const vals = [
      { type: 'string', value: 'card' },
      { type: 'string', value: 'cash "now"' },
      { type: 'string', value: 'bank' },
    ];
    expect(valueSuggestions(vals, c).map((s) => s.insert)).toEqual(['"card"', '"cash \\"now\\""']);
    const d = ctx('{ status = ‸') as Completion & { kind: 'value' };
    expect(valueSuggestions([{ type: 'keyword', value: 'error' }], d).map((s) => s.insert)).toEqual(['error']);
  });
  it('replaces the completed text', () => {
    const [t, i] = at('{ span.pay‸ }');
    const c = completionAt(t, i)!;
    expect(complete(t, c, { label: '', insert: 'span.payment.method', detail: '' })).toEqual({ text: '{ span.payment.method }', caret: 22 });
    const [u, j] = at('{ x = "ca‸');
    const d = completionAt(u, j)!;
    expect(complete(u, d, { label: '', insert: '"card"', detail: '' })).toEqual({ text: '{ x = "card" ', caret: 13 });
  });
});

describe('likeThis', () => {
  it('quotes what it is given', () => {
    expect(likeThis('payment', 'Charge')).toBe('{ resource.service.name = "payment" && name = "Charge" }');
    expect(likeThis('a"b', 'GET /x\\y')).toBe('{ resource.service.name = "a\\"b" && name = "GET /x\\\\y" }');
    expect(quote('line\nbreak')).toBe('"line\\nbreak"');
  });
});

describe('time windows', () => {
  it('reads lookbacks', () => {
    expect(lookbackMs('15m')).toBe(900e3);
    expect(lookbackMs('2d')).toBe(2 * 86400e3);
    expect(lookbackMs('custom')).toBeNaN();
  });
  it('turns the page query into seconds', () => {
    const now = 1_700_000_000_500;
    expect(searchWindow(new URLSearchParams('lookback=1h'), now)).toEqual({ start: 1_699_996_400, end: 1_700_000_001 });
    expect(searchWindow(new URLSearchParams('lookback=custom&start=1000000000&end=2000000000'), now)).toEqual({ start: 1000, end: 2000 });
    expect(searchWindow(new URLSearchParams(''), now).start).toBe(1_699_996_400);
  });
  it('picks the shortest lookback that reaches a trace', () => {
    const choices = ['5m', '15m', '1h', '1d', 'custom'];
    expect(coveringLookback(10 * 60e3, choices)).toBe('15m');
    expect(coveringLookback(14.5 * 60e3, choices)).toBe('1h');
    expect(coveringLookback(3 * 86400e3, choices)).toBe('');
  });
});
