// parseLogfmt reads search attributes written as logfmt:
//   http.status_code=500 error=true msg="upstream failed" path=/a\ b
// A bare key means key=true (as in Jaeger UI); quoted values take \" and \\
// escapes. It throws an Error that says where the input is malformed.
export function parseLogfmt(input: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  const n = input.length;
  const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r';
  while (i < n) {
    while (i < n && isSpace(input[i])) i++;
    if (i >= n) break;
    const keyStart = i;
    while (i < n && !isSpace(input[i]) && input[i] !== '=') {
      if (input[i] === '"') throw new Error(`unexpected quote in a key at position ${i + 1}`);
      i++;
    }
    const key = input.slice(keyStart, i);
    if (key === '') throw new Error(`missing key before "=" at position ${i + 1}`);
    if (i >= n || input[i] !== '=') {
      out[key] = 'true';
      continue;
    }
    i++; // '='
    let value = '';
    if (input[i] === '"') {
      i++;
      let closed = false;
      while (i < n) {
        const c = input[i];
        if (c === '\\' && i + 1 < n) {
          value += input[i + 1];
          i += 2;
          continue;
        }
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        value += c;
        i++;
      }
      if (!closed) throw new Error(`unterminated quoted value for "${key}"`);
      if (i < n && !isSpace(input[i])) throw new Error(`expected a space after the quoted value of "${key}"`);
    } else {
      while (i < n && !isSpace(input[i])) {
        if (input[i] === '\\' && i + 1 < n) {
          value += input[i + 1];
          i += 2;
          continue;
        }
        value += input[i];
        i++;
      }
    }
    out[key] = value;
  }
  return out;
}

// toLogfmt writes tags back as logfmt, quoting values that need it.
export function toLogfmt(tags: Record<string, string>): string {
  return Object.entries(tags)
    .map(([k, v]) => (v === '' || /[\s"\\=]/.test(v) ? `${k}="${v.replace(/["\\]/g, (c) => '\\' + c)}"` : `${k}=${v}`))
    .join(' ');
}
