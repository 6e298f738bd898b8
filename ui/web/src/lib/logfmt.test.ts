import { describe, expect, it } from 'vitest';
import { parseLogfmt, toLogfmt } from './logfmt';

describe('parseLogfmt', () => {
  it('reads key=value pairs', () => {
    expect(parseLogfmt('http.status_code=500 error=true')).toEqual({ 'http.status_code': '500', error: 'true' });
  });
  it('reads quoted values with spaces and escapes', () => {
    expect(parseLogfmt('msg="upstream failed" q="say \\"hi\\"" p=a\\ b')).toEqual({ msg: 'upstream failed', q: 'say "hi"', p: 'a b' });
  });
  it('takes a bare key as true and an empty value as empty', () => {
    expect(parseLogfmt('error  x= y=""')).toEqual({ error: 'true', x: '', y: '' });
  });
  it('keeps = inside values', () => {
    expect(parseLogfmt('q=a=b')).toEqual({ q: 'a=b' });
  });
  it('returns nothing for blank input', () => {
    expect(parseLogfmt('   ')).toEqual({});
  });
  it('rejects malformed input with a message', () => {
    expect(() => parseLogfmt('msg="open')).toThrow(/unterminated/);
    expect(() => parseLogfmt('=v')).toThrow(/missing key/);
    expect(() => parseLogfmt('a="x"y')).toThrow(/space after/);
  });
  it('round-trips through toLogfmt', () => {
    const tags = { a: 'plain', b: 'two words', c: 'quote"d', d: '' };
    expect(parseLogfmt(toLogfmt(tags))).toEqual(tags);
  });
});
