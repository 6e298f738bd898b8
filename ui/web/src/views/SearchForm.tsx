import { useMemo, useState } from 'preact/hooks';
import * as api from '../lib/api';
import { parseDurationInput } from '../lib/format';
import { parseLogfmt } from '../lib/logfmt';
import { searchWindow, type ParseErrorAt } from '../lib/traceql';
import { navigate } from '../router';
import { useSettings } from '../settings';
import { useAsync } from './common';
import { TraceQLEditor } from './TraceQLEditor';

export type SearchMode = 'form' | 'traceql';

export const lookbacks: [string, string][] = [
  ['5m', 'Last 5 minutes'], ['15m', 'Last 15 minutes'], ['30m', 'Last 30 minutes'], ['1h', 'Last hour'],
  ['2h', 'Last 2 hours'], ['6h', 'Last 6 hours'], ['12h', 'Last 12 hours'], ['1d', 'Last day'],
  ['2d', 'Last 2 days'], ['7d', 'Last 7 days'], ['custom', 'Custom range'],
];

// toInputTime and fromInputTime convert between Unix µs and the value of a
// datetime-local input, in the chosen time zone.
function toInputTime(us: number, utc: boolean): string {
  const d = new Date(us / 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  return utc
    ? `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}T${p(d.getUTCHours())}:${p(d.getUTCMinutes())}`
    : `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}
function fromInputTime(s: string, utc: boolean): number {
  const m = s.match(/^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/);
  if (!m) return NaN;
  const [y, mo, d, h, mi, sec] = m.slice(1).map((x) => Number(x ?? 0));
  const ms = utc ? Date.UTC(y, mo - 1, d, h, mi, sec) : new Date(y, mo - 1, d, h, mi, sec).getTime();
  return ms * 1000;
}

// SearchForm searches by service, operation and attributes (Jaeger's
// search), or by a TraceQL query (mode=traceql, run against the Tempo API).
// tqlError is the parse error of the query in the URL, once its search
// answered.
export function SearchForm({ query, tqlError }: { query: URLSearchParams; tqlError?: ParseErrorAt | null }) {
  const { tz } = useSettings();
  const utc = tz === 'utc';
  const [mode, setMode] = useState<SearchMode>(query.get('mode') === 'traceql' ? 'traceql' : 'form');
  const [tql, setTql] = useState(query.get('q') ?? '');
  const [service, setService] = useState(query.get('service') ?? '');
  const [operation, setOperation] = useState(query.get('operation') ?? '');
  const [spanKind, setSpanKind] = useState(query.get('spanKind') ?? '');
  const [attrs, setAttrs] = useState(query.get('attrs') ?? '');
  const [lookback, setLookback] = useState(query.get('lookback') ?? '1h');
  const nowUs = Date.now() * 1000;
  const [start, setStart] = useState(() => toInputTime(Number(query.get('start')) || nowUs - 3600e6, utc));
  const [end, setEnd] = useState(() => toInputTime(Number(query.get('end')) || nowUs, utc));
  const [minDuration, setMinDuration] = useState(query.get('minDuration') ?? '');
  const [maxDuration, setMaxDuration] = useState(query.get('maxDuration') ?? '');
  const [limit, setLimit] = useState(query.get('limit') ?? '20');
  const [error, setError] = useState('');
  const [ids, setIds] = useState('');

  const services = useAsync((signal) => api.services(signal), []);
  const ops = useAsync((signal) => (service ? api.operations(service, signal) : Promise.resolve([])), [service]);
  const serviceList = useMemo(() => {
    const l = services.data ?? [];
    return service && !l.includes(service) ? [service, ...l] : l;
  }, [services.data, service]);

  // Editing a field clears the form's error (at once, not in an effect, so
  // a submit right after the edit keeps its own error).
  const upd = (set: (v: string) => void) => (e: Event) => {
    setError('');
    set((e.target as HTMLInputElement).value);
  };

  const submit = (e?: Event) => {
    e?.preventDefault();
    const q = new URLSearchParams();
    try {
      if (mode === 'traceql') {
        q.set('mode', 'traceql');
        q.set('q', tql.trim() || '{}');
      }
      if (mode === 'form' && service) q.set('service', service);
      if (mode === 'form' && operation) q.set('operation', operation);
      if (mode === 'form' && operation && spanKind) q.set('spanKind', spanKind);
      if (mode === 'form' && attrs.trim()) {
        parseLogfmt(attrs);
        q.set('attrs', attrs.trim());
      }
      q.set('lookback', lookback);
      if (lookback === 'custom') {
        const a = fromInputTime(start, utc);
        const b = fromInputTime(end, utc);
        if (!Number.isFinite(a) || !Number.isFinite(b)) throw new Error('the custom range needs a start and an end');
        if (b <= a) throw new Error('the end of the range must be after its start');
        q.set('start', String(a));
        q.set('end', String(b));
      }
      const minD = parseDurationInput(minDuration);
      const maxD = parseDurationInput(maxDuration);
      if (mode === 'form' && minD) q.set('minDuration', minD);
      if (mode === 'form' && maxD) q.set('maxDuration', maxD);
      const n = Number(limit);
      if (!Number.isInteger(n) || n < 1) throw new Error('the limit must be a whole number of at least 1');
      q.set('limit', String(n));
    } catch (err) {
      setError((err as Error).message);
      return;
    }
    q.set('t', String(Date.now())); // a new search even when nothing changed
    navigate(`/search?${q}`);
  };

  const openIDs = (e: Event) => {
    e.preventDefault();
    const list = ids.split(/[\s,;]+/).filter(Boolean);
    const bad = list.find((id) => !/^[0-9a-fA-F]{1,32}$/.test(id));
    if (list.length === 0) return;
    if (bad !== undefined) {
      setError(`"${bad}" is not a trace ID (1 to 32 hex digits)`);
      return;
    }
    if (list.length === 1) navigate(`/trace/${list[0].toLowerCase()}`);
    else navigate(`/search?${list.map((id) => `traceID=${encodeURIComponent(id.toLowerCase())}`).join('&')}`);
  };

  // The window of the form as it is, for completions.
  const formWindow = () => {
    const w = new URLSearchParams({ lookback });
    if (lookback === 'custom') {
      w.set('start', String(fromInputTime(start, utc)));
      w.set('end', String(fromInputTime(end, utc)));
    }
    return searchWindow(w, Date.now());
  };
  const tab = (m: SearchMode, label: string) => (
    <button type="button" role="tab" id={`mode-${m}`} aria-selected={mode === m} class={mode === m ? 'active' : ''} onClick={() => {
      setError('');
      setMode(m);
    }}>
      {label}
    </button>
  );

  const opValue = operation ? `${operation}\u0000${spanKind}` : '';
  return (
    <aside class={`search-form ${mode === 'traceql' ? 'wide' : ''}`}>
      <form onSubmit={openIDs} class="ids-form" aria-label="Open traces by ID">
        <label for="trace-ids">Trace IDs</label>
        <div class="frow">
          <input id="trace-ids" name="traceIDs" placeholder="one or several IDs" value={ids} onInput={upd(setIds)} />
          <button type="submit">Open</button>
        </div>
      </form>
      <div class="tabs mode-tabs" role="tablist" aria-label="Search by">
        {tab('form', 'Search form')}
        {tab('traceql', 'TraceQL')}
      </div>
      <form onSubmit={submit} aria-label="Search traces">
        {mode === 'traceql' ? (
          <>
            <label for="tql-query">TraceQL query</label>
            <TraceQLEditor
              value={tql}
              onInput={(v) => {
                setError('');
                setTql(v);
              }}
              error={tqlError && tql === (query.get('q') ?? '') ? tqlError : null}
              window={formWindow}
              onSubmit={() => submit()}
            />
          </>
        ) : (
          <>
            <label for="f-service">Service</label>
            <select id="f-service" name="service" value={service} onChange={(e) => {
              setService((e.target as HTMLSelectElement).value);
              setOperation('');
              setSpanKind('');
            }}>
              <option value="">All services</option>
              {serviceList.map((s) => (
                <option key={s} value={s}>{s}</option>
              ))}
            </select>
            {services.error && <p class="field-error">{services.error}</p>}
            <label for="f-operation">Operation</label>
            <select id="f-operation" name="operation" value={opValue} disabled={!service} onChange={(e) => {
              const [name, kind] = (e.target as HTMLSelectElement).value.split('\u0000');
              setOperation(name ?? '');
              setSpanKind(kind ?? '');
            }}>
              <option value="">All operations</option>
              {operation && !(ops.data ?? []).some((o) => o.name === operation && o.spanKind === spanKind) && <option value={opValue}>{operation}</option>}
              {(ops.data ?? []).map((o) => (
                <option key={o.name + o.spanKind} value={`${o.name}\u0000${o.spanKind}`}>
                  {o.spanKind ? `${o.name} · ${o.spanKind}` : o.name}
                </option>
              ))}
            </select>
            <label for="f-attrs">Attributes</label>
            <input id="f-attrs" name="attrs" placeholder="http.status_code=500 error=true" value={attrs} onInput={upd(setAttrs)} spellcheck={false} />
            <p class="hint">logfmt: key=value, quote values with spaces</p>
          </>
        )}
        <label for="f-lookback">Lookback</label>
        <select id="f-lookback" name="lookback" value={lookback} onChange={upd(setLookback)}>
          {lookbacks.map(([v, l]) => (
            <option key={v} value={v}>{l}</option>
          ))}
        </select>
        {lookback === 'custom' && (
          <div class="custom-range">
            <label for="f-start">From {utc ? '(UTC)' : ''}</label>
            <input id="f-start" type="datetime-local" value={start} onInput={upd(setStart)} />
            <label for="f-end">To {utc ? '(UTC)' : ''}</label>
            <input id="f-end" type="datetime-local" value={end} onInput={upd(setEnd)} />
          </div>
        )}
        {mode === 'form' && (
          <div class="frow two">
            <div>
              <label for="f-min">Min duration</label>
              <input id="f-min" name="minDuration" placeholder="e.g. 100ms" value={minDuration} onInput={upd(setMinDuration)} />
            </div>
            <div>
              <label for="f-max">Max duration</label>
              <input id="f-max" name="maxDuration" placeholder="e.g. 2s" value={maxDuration} onInput={upd(setMaxDuration)} />
            </div>
          </div>
        )}
        <label for="f-limit">Limit</label>
        <input id="f-limit" name="limit" type="number" min="1" max="1500" value={limit} onInput={upd(setLimit)} />
        {error && <p class="field-error" role="alert">{error}</p>}
        <button type="submit" class="primary" id="find-traces">{mode === 'traceql' ? 'Run query' : 'Find traces'}</button>
      </form>
    </aside>
  );
}

// apiQuery turns the page's query into /api/traces parameters.
export function apiQuery(q: URLSearchParams): URLSearchParams {
  const out = new URLSearchParams();
  const ids = q.getAll('traceID');
  if (ids.length > 0) {
    ids.forEach((id) => out.append('traceID', id));
    return out;
  }
  for (const k of ['service', 'operation', 'spanKind', 'minDuration', 'maxDuration', 'limit']) {
    const v = q.get(k);
    if (v) out.set(k, v);
  }
  const attrs = q.get('attrs');
  if (attrs) out.set('tags', JSON.stringify(parseLogfmt(attrs)));
  const lookback = q.get('lookback') ?? '1h';
  if (lookback === 'custom' && q.get('start') && q.get('end')) {
    out.set('start', q.get('start')!);
    out.set('end', q.get('end')!);
  } else {
    out.set('lookback', lookback === 'custom' ? '1h' : lookback);
  }
  return out;
}

// spansPerSet is how many matched spans of each trace a TraceQL search
// shows (Tempo's spss).
export const spansPerSet = 10;

// tempoQuery turns the page's TraceQL query into /api/search parameters.
export function tempoQuery(q: URLSearchParams, nowMs: number): URLSearchParams {
  const w = searchWindow(q, nowMs);
  const out = new URLSearchParams({ q: q.get('q') || '{}', start: String(w.start), end: String(w.end), spss: String(spansPerSet) });
  const limit = q.get('limit');
  if (limit) out.set('limit', limit);
  return out;
}
