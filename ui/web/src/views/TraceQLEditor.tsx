import type { ComponentChildren } from 'preact';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import * as api from '../lib/api';
import {
  caretLine,
  complete,
  completionAt,
  offsetAt,
  tagSuggestions,
  valueSuggestions,
  type Completion,
  type ParseErrorAt,
  type Suggestion,
  type TagScopes,
  type TagValue,
} from '../lib/traceql';

// TraceQLEditor is the TraceQL box: a text area with a mirror behind it
// that marks where a parse error is, the error's line with a caret under
// its column, and a list of completions at the caret (attribute names
// from /api/v2/search/tags, values from /api/v2/search/tag/<tag>/values).
// Enter runs the query (Shift+Enter: a new line); in the list, arrows
// move, Enter or Tab take, Escape closes; Ctrl+Space opens it again.

// Answers are kept for the page's life, by window (to the minute) and
// request, so typing filters what was fetched rather than fetching again.
const cache = new Map<string, Promise<TagScopes[] | TagValue[]>>();

function cached<T extends TagScopes[] | TagValue[]>(key: string, load: () => Promise<T>): Promise<T> {
  let p = cache.get(key);
  if (!p) {
    p = load();
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p as Promise<T>;
}

interface Props {
  value: string;
  onInput: (v: string) => void;
  error: ParseErrorAt | null; // of the value as it is
  window: () => api.TempoWindow;
  onSubmit: () => void;
}

export function TraceQLEditor(props: Props) {
  const ta = useRef<HTMLTextAreaElement>(null);
  const mirror = useRef<HTMLDivElement>(null);
  const anchor = useRef<HTMLSpanElement>(null);
  const list = useRef<HTMLUListElement>(null);
  const pendingCaret = useRef<number | null>(null);
  const [ctx, setCtx] = useState<Completion | null>(null);
  const [focused, setFocused] = useState(false);
  const [dismissed, setDismissed] = useState(false);
  const [active, setActive] = useState(0);
  const [data, setData] = useState<{ key: string; answer: TagScopes[] | TagValue[] } | null>(null);

  const key = ctx ? (ctx.kind === 'tag' ? `tag\u0000${ctx.query}` : `value\u0000${ctx.tag}\u0000${ctx.query}`) : '';
  useEffect(() => {
    if (!key || !ctx) return;
    const w = props.window();
    const win = { start: Math.floor(w.start / 60) * 60, end: Math.ceil(w.end / 60) * 60 };
    const full = `${win.start}-${win.end}\u0000${key}`;
    const c = ctx;
    let live = true;
    const p = c.kind === 'tag' ? cached(full, () => api.tempoTags(win, c.query)) : cached(full, () => api.tempoTagValues(c.tag, win, c.query));
    p.then(
      (answer) => live && setData({ key, answer }),
      () => live && setData({ key, answer: [] }), // no suggestions, the box still works
    );
    return () => {
      live = false;
    };
  }, [key]);

  const items: Suggestion[] = useMemo(() => {
    if (!ctx || !data || data.key !== key) return [];
    return ctx.kind === 'tag' ? tagSuggestions(data.answer as TagScopes[], ctx) : valueSuggestions(data.answer as TagValue[], ctx);
  }, [ctx, data, key]);
  const open = focused && !dismissed && ctx !== null && items.length > 0;
  const cur = Math.min(active, Math.max(items.length - 1, 0));

  // sync reads the caret: what can be completed there.
  const sync = () => {
    const el = ta.current;
    if (!el) return;
    if (el.selectionStart !== el.selectionEnd) {
      setCtx(null);
      return;
    }
    setCtx(completionAt(el.value, el.selectionStart));
  };

  // After a completion, the caret goes after the inserted text.
  useLayoutEffect(() => {
    const el = ta.current;
    if (el && pendingCaret.current !== null) {
      el.setSelectionRange(pendingCaret.current, pendingCaret.current);
      pendingCaret.current = null;
      sync();
    }
  }, [props.value]);

  // The mirror wraps its text as the box does: as narrow as the box is
  // once a scroll bar takes part of it.
  useLayoutEffect(() => {
    const el = ta.current;
    const m = mirror.current;
    if (!el || !m) return;
    const bar = el.offsetWidth - el.clientWidth - el.clientLeft * 2;
    m.style.paddingRight = bar > 0 ? `calc(8px + ${bar}px)` : '';
    m.scrollTop = el.scrollTop;
  });

  // The list sits under the start of the completed word.
  useLayoutEffect(() => {
    const m = mirror.current;
    const a = anchor.current;
    const l = list.current;
    if (!open || !m || !a || !l) return;
    const lineHeight = parseFloat(getComputedStyle(m).lineHeight) || 18;
    const left = m.offsetLeft + m.clientLeft + a.offsetLeft;
    const top = m.offsetTop + m.clientTop + a.offsetTop + lineHeight - m.scrollTop;
    const width = m.parentElement?.clientWidth ?? 300;
    l.style.left = `${Math.max(0, Math.min(left, width - l.offsetWidth))}px`;
    l.style.top = `${top}px`;
  });
  useEffect(() => {
    list.current?.querySelector('[aria-selected="true"]')?.scrollIntoView({ block: 'nearest' });
  }, [cur, open]);

  // A parse error puts the caret where it is.
  const errOff = props.error ? offsetAt(props.value, props.error.line, props.error.col) : -1;
  useEffect(() => {
    const el = ta.current;
    if (el && errOff >= 0) {
      el.focus();
      el.setSelectionRange(errOff, errOff);
    }
  }, [errOff]);

  const take = (s: Suggestion) => {
    const el = ta.current;
    if (!el || !ctx) return;
    const r = complete(el.value, ctx, s);
    pendingCaret.current = r.caret;
    setActive(0);
    props.onInput(r.text);
  };

  const onKeyDown = (e: KeyboardEvent) => {
    if (open) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        setActive((cur + (e.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length);
        return;
      }
      if ((e.key === 'Enter' && !e.shiftKey) || e.key === 'Tab') {
        e.preventDefault();
        take(items[cur]);
        return;
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        setDismissed(true);
        return;
      }
    }
    if (e.key === ' ' && e.ctrlKey) {
      e.preventDefault();
      setDismissed(false);
      sync();
      return;
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      props.onSubmit();
    }
  };

  // The mirror holds the same text, invisible, with the error marked and
  // an anchor where the completed word starts.
  const mirrorText = useMemo(() => {
    const text = props.value;
    const out: ComponentChildren[] = [];
    const anchorAt = open && ctx ? ctx.from : -1;
    let pos = 0;
    const put = (upto: number) => {
      if (anchorAt >= pos && anchorAt < upto) {
        out.push(text.slice(pos, anchorAt), <span ref={anchor} class="tql-anchor" />);
        pos = anchorAt;
      }
      out.push(text.slice(pos, upto));
      pos = upto;
    };
    if (errOff >= 0) {
      put(errOff);
      if (anchorAt === errOff) out.push(<span ref={anchor} class="tql-anchor" />);
      const cp = text.codePointAt(errOff);
      const len = cp === undefined || text[errOff] === '\n' ? 0 : cp > 0xffff ? 2 : 1;
      out.push(
        <mark class="tql-mark" key="mark">
          {len ? text.slice(errOff, errOff + len) : '\u00a0'}
        </mark>,
      );
      pos = errOff + len;
    }
    put(text.length);
    if (anchorAt === text.length && anchorAt !== errOff) out.push(<span ref={anchor} class="tql-anchor" />);
    out.push('\u200b');
    return out;
  }, [props.value, errOff, open, ctx?.from]);

  const err = props.error;
  const caret = err ? caretLine(props.value, err.line, err.col) : null;
  return (
    <div class="tql">
      <div class={`tql-editor ${err ? 'has-error' : ''}`}>
        <div class="tql-mirror" ref={mirror} aria-hidden="true">
          {mirrorText}
        </div>
        <textarea
          id="tql-query"
          ref={ta}
          name="q"
          rows={4}
          spellcheck={false}
          autocomplete="off"
          placeholder='{ resource.service.name = "frontend" && status = error }'
          value={props.value}
          role="combobox"
          aria-label="TraceQL query"
          aria-autocomplete="list"
          aria-expanded={open}
          aria-controls="tql-suggest"
          aria-activedescendant={open ? `tql-opt-${cur}` : undefined}
          aria-invalid={err ? true : undefined}
          aria-describedby={err ? 'tql-error' : undefined}
          onInput={(e) => {
            setDismissed(false);
            setActive(0);
            props.onInput((e.target as HTMLTextAreaElement).value);
            sync();
          }}
          onKeyDown={onKeyDown}
          onKeyPress={(e) => {
            // Enter was handled on keydown (a completion or a run); a key
            // press after it (as a synthesized key sends) adds no line.
            if (e.key === 'Enter' && !e.shiftKey) e.preventDefault();
          }}
          onKeyUp={(e) => {
            if (['ArrowLeft', 'ArrowRight', 'Home', 'End'].includes(e.key) || (!open && ['ArrowUp', 'ArrowDown'].includes(e.key))) sync();
          }}
          onClick={sync}
          onFocus={() => {
            setFocused(true);
            sync();
          }}
          onBlur={() => setFocused(false)}
          onScroll={(e) => {
            if (mirror.current) mirror.current.scrollTop = (e.target as HTMLTextAreaElement).scrollTop;
          }}
        />
        <ul id="tql-suggest" class="tql-suggest" role="listbox" ref={list} hidden={!open} aria-label={ctx?.kind === 'value' ? 'Values' : 'Attributes'}>
          {open &&
            items.map((s, i) => (
              <li
                key={s.insert}
                id={`tql-opt-${i}`}
                role="option"
                aria-selected={i === cur}
                class={i === cur ? 'active' : ''}
                onMouseDown={(e) => {
                  e.preventDefault(); // keep the focus in the box
                  take(s);
                }}
                onMouseEnter={() => setActive(i)}
              >
                <span class="tql-label">{s.label}</span>
                <span class="tql-detail">{s.detail}</span>
              </li>
            ))}
        </ul>
      </div>
      {err && caret && (
        <div class="tql-error" id="tql-error" role="alert">
          <pre class="tql-caret">
            <span class="tql-line">{caret.line}</span>
            {'\n'}
            {caret.pad}
            <span class="tql-pointer">^</span>
          </pre>
          <p class="field-error">
            line {err.line}, col {err.col}: {err.message}
          </p>
        </div>
      )}
      <p class="hint">
        Enter runs the query, Shift+Enter adds a line. Names complete after <code>{'{'}</code>, <code>.</code>, <code>span.</code>, <code>resource.</code>; values after <code>=</code>.
      </p>
    </div>
  );
}
