// TraceQL in the search page, without DOM: where a parse error is, what to
// complete at the caret (attribute names after `{`, `.`, `span.`,
// `resource.`, values after a comparison), and the query of "find traces
// like this". Positions are UTF-16 offsets into the text (JavaScript's),
// the server's columns count characters (code points) from 1.

// ParseErrorAt is a parse error at a line and column (both from 1).
export interface ParseErrorAt {
  line: number;
  col: number;
  message: string;
}

// parseErrorAt reads the position from the server's answer to a query
// that does not parse ("... parse error at line L, col C: message").
export function parseErrorAt(text: string): ParseErrorAt | null {
  const m = text.match(/parse error at line (\d+), col (\d+): ([\s\S]*)$/);
  if (!m) return null;
  return { line: Number(m[1]), col: Number(m[2]), message: m[3].trim() };
}

// offsetAt is the offset in text of a line and column (code points from
// 1), clamped to the text.
export function offsetAt(text: string, line: number, col: number): number {
  let off = 0;
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf('\n', off);
    if (nl < 0) return text.length;
    off = nl + 1;
  }
  for (let c = 1; c < col && off < text.length && text[off] !== '\n'; c++) {
    const cp = text.codePointAt(off)!;
    off += cp > 0xffff ? 2 : 1;
  }
  return off;
}

// caretLine is the line of text an error is on and the text that puts a
// caret under its column when written on the next line (tabs kept as tabs,
// so the caret lines up in a monospace font).
export function caretLine(text: string, line: number, col: number): { line: string; pad: string } {
  const lines = text.split('\n');
  const l = lines[Math.min(Math.max(line, 1), lines.length) - 1] ?? '';
  const before = Array.from(l).slice(0, Math.max(col - 1, 0));
  return { line: l, pad: before.map((c) => (c === '\t' ? '\t' : ' ')).join('') };
}

export type TagScope = 'span' | 'resource' | 'event' | 'link' | 'instrumentation';
const scopes: TagScope[] = ['span', 'resource', 'event', 'link', 'instrumentation'];

// Completion is what can be completed at the caret: the text from..to is
// replaced by the chosen suggestion; query is the rest of the spanset
// filter being typed (its other conditions, complete), sent as q to narrow
// the suggestions, or '' when there is none.
export type Completion =
  | { kind: 'tag'; from: number; to: number; prefix: string; scope: TagScope | 'unscoped' | 'any'; query: string }
  | { kind: 'value'; from: number; to: number; prefix: string; tag: string; query: string };

const attrChars = /[\w.:\-/]*$/;
// A comparison before the caret: an attribute (its name may be quoted, as
// in span."a b") and an operator.
const valueOp = /([A-Za-z_.:][\w.:\-/]*(?:"(?:[^"\\]|\\.)*")?|\."(?:[^"\\]|\\.)*")\s*(=~|!~|!=|>=|<=|=|>|<)\s*$/;

// completionAt says what to complete at caret in text, or null.
export function completionAt(text: string, caret: number): Completion | null {
  // Scan to the caret: strings and the open braces.
  const open: number[] = [];
  let str = -1; // start of the open string, -1 outside
  for (let i = 0; i < caret; i++) {
    const c = text[i];
    if (str >= 0) {
      if (c === '\\' && text[str] === '"') i++;
      else if (c === text[str]) str = -1;
      continue;
    }
    if (c === '"' || c === '`') str = i;
    else if (c === '{') open.push(i);
    else if (c === '}') open.pop();
  }
  if (open.length === 0) return null;
  const brace = open[open.length - 1];
  const before = text.slice(0, caret);
  if (str >= 0) {
    // In a quoted value: complete it when it follows a comparison.
    const m = text.slice(0, str).match(valueOp);
    if (!m || text[str] !== '"') return null;
    const tagStart = str - m[0].length;
    const to = text[caret] === '"' ? caret + 1 : caret;
    return { kind: 'value', from: str, to, prefix: text.slice(str + 1, caret), tag: m[1], query: filterQuery(text, brace, tagStart) };
  }
  const word = before.match(attrChars)![0];
  const from = caret - word.length;
  const to = caret + text.slice(caret).match(/^[\w.:\-/]*/)![0].length;
  const head = text.slice(0, from);
  const v = head.match(valueOp);
  if (v) {
    // A bare value after a comparison (a number, true, a status...).
    const tagStart = from - v[0].length;
    return { kind: 'value', from, to, prefix: word, tag: v[1], query: filterQuery(text, brace, tagStart) };
  }
  // An attribute name starts after {, (, &&, ||, or !.
  const prev = head.trimEnd();
  if (!/(\{|\(|&&|\|\||!)$/.test(prev) || /!=$/.test(prev)) return null;
  let scope: (Completion & { kind: 'tag' })['scope'] = 'any';
  let prefix = word;
  const dot = word.indexOf('.');
  if (dot === 0) {
    scope = 'unscoped';
    prefix = word.slice(1);
  } else if (dot > 0 && (scopes as string[]).includes(word.slice(0, dot))) {
    scope = word.slice(0, dot) as TagScope;
    prefix = word.slice(dot + 1);
  }
  return { kind: 'tag', from, to, prefix, scope, query: filterQuery(text, brace, from) };
}

// filterQuery is the spanset filter that opens at brace, up to end (the
// condition being typed), with the operators that would join it dropped:
// `{ a = 1 && ` becomes `{ a = 1 }`; '' when nothing is left.
function filterQuery(text: string, brace: number, end: number): string {
  let inner = text.slice(brace + 1, end).trim();
  for (;;) {
    const t = inner.replace(/(&&|\|\||!|\()$/, '').trim();
    if (t === inner) break;
    inner = t;
  }
  return inner ? `{ ${inner} }` : '';
}

export interface TagScopes {
  name: string; // resource, span, ..., intrinsic
  tags: string[];
}

export interface Suggestion {
  label: string; // what the list shows
  insert: string; // what replaces the completed text
  detail: string; // the scope or the value's type
}

const plainName = /^[A-Za-z_][\w.\-/:]*$/;

// scoped writes an attribute name with its scope, quoting a name TraceQL
// would not read bare.
export function scoped(scope: string, name: string): string {
  const n = plainName.test(name) ? name : quote(name);
  return scope === '' ? `.${n}` : `${scope}.${n}`;
}

// quote writes s as a TraceQL string literal.
export function quote(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t')}"`;
}

const maxSuggestions = 50;

// rank keeps the items whose key starts with prefix, then those that
// contain it (case does not matter), at most maxSuggestions.
function rank<T>(items: T[], key: (x: T) => string, prefix: string): T[] {
  const p = prefix.toLowerCase();
  const starts: T[] = [];
  const has: T[] = [];
  for (const x of items) {
    const k = key(x).toLowerCase();
    if (k.startsWith(p)) starts.push(x);
    else if (p && k.includes(p)) has.push(x);
  }
  return [...starts, ...has].slice(0, maxSuggestions);
}

// tagSuggestions lists the names to offer for a tag completion, from the
// answer of /api/v2/search/tags.
export function tagSuggestions(answer: TagScopes[], c: Completion & { kind: 'tag' }): Suggestion[] {
  const by = new Map(answer.map((s) => [s.name, s.tags]));
  const out: Suggestion[] = [];
  const seen = new Set<string>();
  const add = (label: string, insert: string, detail: string, key: string) => {
    if (seen.has(insert)) return;
    seen.add(insert);
    out.push({ label, insert, detail: `${detail}\u0000${key}` });
  };
  if (c.scope === 'unscoped') {
    for (const sc of ['span', 'resource']) for (const t of by.get(sc) ?? []) add(scoped('', t), scoped('', t), 'any scope', t);
  } else if (c.scope !== 'any') {
    for (const t of by.get(c.scope) ?? []) add(scoped(c.scope, t), scoped(c.scope, t), c.scope, t);
  } else {
    for (const t of by.get('intrinsic') ?? []) add(t, t, 'intrinsic', t);
    for (const sc of scopes) for (const t of by.get(sc) ?? []) add(scoped(sc, t), scoped(sc, t), sc, `${sc}.${t}`);
  }
  // A bare word matches the whole name (span.http...) or the name alone.
  const ranked = rank(out, (s) => s.detail.split('\u0000')[1], c.prefix);
  if (c.scope === 'any' && c.prefix) {
    const more = rank(out, (s) => s.label.replace(/^[a-z]+\./, ''), c.prefix).filter((s) => !ranked.includes(s));
    ranked.push(...more.slice(0, maxSuggestions - ranked.length));
  }
  return ranked.map((s) => ({ ...s, detail: s.detail.split('\u0000')[0] }));
}

export interface TagValue {
  type: string; // string, int, float, bool, duration, keyword
  value: string;
}

// valueSuggestions lists the values to offer, from the answer of
// /api/v2/search/tag/<tag>/values: strings quoted, the others bare.
export function valueSuggestions(values: TagValue[], c: Completion & { kind: 'value' }): Suggestion[] {
  return rank(values, (v) => v.value, c.prefix).map((v) => {
    const lit = v.type === 'string' ? quote(v.value) : v.value;
    return { label: lit, insert: lit, detail: v.type };
  });
}

// complete puts s in place of the completed text, with a space after it,
// and returns the new text and caret.
export function complete(text: string, c: Completion, s: Suggestion): { text: string; caret: number } {
  const rest = text.slice(c.to);
  const sep = rest.startsWith(' ') || rest.startsWith('\n') ? '' : ' ';
  const ins = s.insert + sep;
  return { text: text.slice(0, c.from) + ins + rest, caret: c.from + ins.length + (sep ? 0 : 1) };
}

// likeThis is the query of "find traces like this": spans of the service
// with the name.
export function likeThis(service: string, name: string): string {
  return `{ resource.service.name = ${quote(service)} && name = ${quote(name)} }`;
}

const unitMs: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };

// lookbackMs reads a lookback such as 15m, 1h or 2d; NaN if it is not one.
export function lookbackMs(lb: string): number {
  const m = lb.match(/^(\d+)([smhdw])$/);
  return m ? Number(m[1]) * unitMs[m[2]] : NaN;
}

// searchWindow is the time range of a search page query (lookback, or
// custom start and end in Unix µs) in Unix seconds, as the Tempo API takes
// it: from the start's second to the end's (which the server counts whole).
export function searchWindow(q: URLSearchParams, nowMs: number): { start: number; end: number } {
  const lb = q.get('lookback') ?? '1h';
  const a = Number(q.get('start'));
  const b = Number(q.get('end'));
  if (lb === 'custom' && a > 0 && b > a) return { start: Math.floor(a / 1e6), end: Math.floor(b / 1e6) };
  const ms = lookbackMs(lb);
  const span = Number.isFinite(ms) ? ms : 3600e3;
  return { start: Math.floor((nowMs - span) / 1000), end: Math.ceil(nowMs / 1000) };
}

// coveringLookback is the shortest of the lookbacks (as the search form
// offers them) that reaches back to a time ageMs ago, with a minute to
// spare; '' when none does.
export function coveringLookback(ageMs: number, choices: string[]): string {
  let best = '';
  let bestMs = Infinity;
  for (const c of choices) {
    const ms = lookbackMs(c);
    if (ms >= ageMs + 60e3 && ms < bestMs) {
      best = c;
      bestMs = ms;
    }
  }
  return best;
}
