import type { ComponentChildren } from 'preact';
import { useMemo, useState } from 'preact/hooks';
import * as api from '../lib/api';
import { formatDuration, formatRelative, formatTime } from '../lib/format';
import { attrs } from '../lib/otlp';
import { sortSummaries, summarize, type SortOrder, type TraceSummary } from '../lib/stats';
import { parseErrorAt } from '../lib/traceql';
import { href, navigate, onLinkClick } from '../router';
import { useSettings } from '../settings';
import { ErrorBox, Loading, ServiceChip, ServiceDot, useAsync, valueText } from './common';
import { Scatter } from './Scatter';
import { apiQuery, SearchForm, tempoQuery } from './SearchForm';

export function SearchPage({ query }: { query: URLSearchParams }) {
  const active = [...query.keys()].length > 0;
  const traceql = query.get('mode') === 'traceql';
  const key = query.toString();
  // A TraceQL search runs here: its parse error goes to the box in the form.
  const tql = useAsync((signal) => (traceql ? api.tempoSearch(tempoQuery(query, Date.now()), signal) : Promise.resolve(null)), [key]);
  const tqlError = traceql && tql.error ? parseErrorAt(tql.error) : null;
  // The form keeps its own state; a new URL (back/forward) re-creates it.
  return (
    <main class="search-page">
      <SearchForm key={key} query={query} tqlError={tqlError} />
      <section class="results" aria-label="Search results">
        {!active ? <Intro /> : traceql ? <TraceQLResults res={tql} /> : <Results query={query} />}
      </section>
    </main>
  );
}

function Intro() {
  return (
    <div class="intro">
      <h1>Find traces</h1>
      <p>Choose a service (or search all of them), narrow by operation, attributes, time and duration, then <strong>Find traces</strong>.</p>
      <p>
        Or write a <strong>TraceQL</strong> query, such as <code>{'{ resource.service.name = "frontend" && status = error }'}</code> or{' '}
        <code>{'{ span.http.response.status_code >= 500 } >> { kind = client }'}</code>.
      </p>
      <p>
        Or paste trace IDs in the box above, <a href={href('/open')} onClick={onLinkClick('/open')}>open a trace file</a>, or look at the{' '}
        <a href={href('/dependencies')} onClick={onLinkClick('/dependencies')}>service dependencies</a>.
      </p>
    </div>
  );
}

const sorts: [SortOrder, string][] = [['recent', 'Most recent'], ['longest', 'Longest first'], ['shortest', 'Shortest first'], ['spans', 'Most spans']];

function Results({ query }: { query: URLSearchParams }) {
  const key = query.toString();
  const res = useAsync((signal) => api.searchTraces(apiQuery(query), signal), [key]);
  const summaries = useMemo(() => (res.data?.traces ?? []).map(summarize), [res.data]);
  if (res.loading && !res.data) return <Loading what="traces" />;
  if (res.error) return <ErrorBox>Cannot search: {res.error}</ErrorBox>;
  return <ResultList summaries={summaries} errors={res.data?.errors ?? []} />;
}

// fromTempo is what the result list shows of a Tempo search result.
function fromTempo(t: api.TempoTrace): TraceSummary {
  const stats = Object.entries(t.serviceStats ?? {});
  return {
    traceID: t.traceID,
    service: t.rootServiceName,
    operation: t.rootTraceName ?? '',
    start: Number(t.startTimeUnixNano) / 1000,
    duration: (t.durationMs ?? 0) * 1000,
    spans: stats.reduce((n, [, s]) => n + (s.spanCount ?? 0), 0),
    errors: stats.reduce((n, [, s]) => n + (s.errorCount ?? 0), 0),
    services: stats.map(([name, s]) => ({ name, count: s.spanCount ?? 0 })).sort((a, b) => b.count - a.count || a.name.localeCompare(b.name)),
  };
}

function TraceQLResults({ res }: { res: { data?: api.TempoSearch | null; error?: string; loading: boolean } }) {
  const traces = res.data?.traces ?? [];
  const summaries = useMemo(() => traces.map(fromTempo), [res.data]);
  const byID = useMemo(() => new Map(traces.map((t) => [t.traceID, t])), [res.data]);
  if (res.loading && !res.data) return <Loading what="traces" />;
  if (res.error) {
    const at = parseErrorAt(res.error);
    return <ErrorBox>{at ? `The query does not parse (line ${at.line}, col ${at.col}): ${at.message}` : `Cannot search: ${res.error}`}</ErrorBox>;
  }
  return (
    <ResultList
      summaries={summaries}
      errors={[]}
      extra={(s) => {
        const t = byID.get(s.traceID);
        return t ? <MatchedSpans t={t} total={s.spans} /> : null;
      }}
    />
  );
}

// MatchedSpans lists the spans of a trace that a TraceQL query matched,
// each linking to itself in the trace view.
function MatchedSpans({ t, total }: { t: api.TempoTrace; total: number }) {
  const sets = t.spanSets ?? (t.spanSet ? [t.spanSet] : []);
  return (
    <div class="matched">
      {sets.map((set, i) => {
        const by = attrs(set.attributes);
        return (
          <div class="spanset" key={i}>
            <div class="spanset-head">
              <span class="badge match-count">
                {set.matched} of {total} {total === 1 ? 'span' : 'spans'} matched
              </span>
              {by.map((kv) => (
                <span class="badge" key={kv.key}>
                  {kv.key} = {valueText(kv.value)}
                </span>
              ))}
            </div>
            <ul class="matched-spans">
              {set.spans.map((sp) => {
                const kvs = attrs(sp.attributes);
                const svc = kvs.find((kv) => kv.key === 'service.name');
                const service = svc ? valueText(svc.value) : '';
                const to = `/trace/${t.traceID}?span=${sp.spanID}`;
                return (
                  <li class="matched-span" key={sp.spanID} data-span-id={sp.spanID}>
                    <a href={href(to)} onClick={onLinkClick(to)} title="Show this span in its trace">
                      <ServiceDot service={service} />
                      <span class="svc">{service}</span>
                      <span class="op">{sp.name ?? ''}</span>
                    </a>
                    <span class="span-attrs">
                      {kvs
                        .filter((kv) => kv !== svc)
                        .map((kv) => (
                          <span class="span-attr" key={kv.key}>
                            {kv.key}={valueText(kv.value)}
                          </span>
                        ))}
                    </span>
                    <span class="matched-duration">{formatDuration(Number(sp.durationNanos) / 1000)}</span>
                  </li>
                );
              })}
            </ul>
            {set.matched > set.spans.length && <p class="muted small">and {set.matched - set.spans.length} more matched spans in the trace</p>}
          </div>
        );
      })}
    </div>
  );
}

// ResultList shows search results: a scatter plot, sorting, picking two to
// compare, and each trace (with extra, what a TraceQL search matched).
function ResultList({ summaries, errors, extra }: { summaries: TraceSummary[]; errors: string[]; extra?: (s: TraceSummary) => ComponentChildren }) {
  const { tz } = useSettings();
  const [order, setOrder] = useState<SortOrder>('recent');
  const [picked, setPicked] = useState<string[]>([]);
  const sorted = useMemo(() => sortSummaries(summaries, order), [summaries, order]);
  const maxDur = Math.max(1, ...summaries.map((s) => s.duration));
  const nowUs = Date.now() * 1000;
  const toggle = (id: string) =>
    setPicked((p) => (p.includes(id) ? p.filter((x) => x !== id) : [...p.slice(-1), id]));
  return (
    <>
      {errors.map((e, i) => (
        <ErrorBox key={i}>{e}</ErrorBox>
      ))}
      <Scatter items={summaries} tz={tz} onOpen={(id) => navigate(`/trace/${id}`)} />
      <div class="results-bar">
        <h2>
          {summaries.length} {summaries.length === 1 ? 'trace' : 'traces'}
        </h2>
        <div class="spacer" />
        {picked.length > 0 && (
          <span class="muted small">{picked.length} of 2 selected to compare</span>
        )}
        <button type="button" id="compare-selected" disabled={picked.length !== 2} onClick={() => navigate(`/compare/${picked[0]}/${picked[1]}`)}>
          Compare
        </button>
        <label class="setting">
          Sort
          <select id="sort-order" value={order} onChange={(e) => setOrder((e.target as HTMLSelectElement).value as SortOrder)}>
            {sorts.map(([v, l]) => (
              <option key={v} value={v}>{l}</option>
            ))}
          </select>
        </label>
      </div>
      {summaries.length === 0 && <p class="empty">No traces match. Try a longer lookback or fewer conditions.</p>}
      <ol class="result-list">
        {sorted.map((s) => (
          <ResultItem key={s.traceID} s={s} tz={tz} nowUs={nowUs} maxDur={maxDur} picked={picked.includes(s.traceID)} onPick={() => toggle(s.traceID)}>
            {extra?.(s)}
          </ResultItem>
        ))}
      </ol>
    </>
  );
}

function ResultItem(props: { s: TraceSummary; tz: 'local' | 'utc'; nowUs: number; maxDur: number; picked: boolean; onPick: () => void; children?: ComponentChildren }) {
  const { s, tz } = props;
  const to = `/trace/${s.traceID}`;
  return (
    <li class={`result ${props.picked ? 'picked' : ''}`} data-trace-id={s.traceID}>
      <div class="result-head">
        <input type="checkbox" class="pick" checked={props.picked} onChange={props.onPick} aria-label={`Select trace ${s.traceID} to compare`} />
        <a class="result-title" href={href(to)} onClick={onLinkClick(to)}>
          <span class="svc">{s.service}</span>: <span class="op">{s.operation}</span>
          <span class="trace-id">{s.traceID.slice(0, 7)}</span>
        </a>
        <span class="result-duration">{formatDuration(s.duration)}</span>
      </div>
      <div class="duration-track" aria-hidden="true">
        <div class="duration-fill" style={{ width: `${Math.max(0.5, (s.duration / props.maxDur) * 100)}%` }} />
      </div>
      <div class="result-body">
        <span class="badge">{s.spans} {s.spans === 1 ? 'span' : 'spans'}</span>
        {s.errors > 0 && <span class="badge error">{s.errors} {s.errors === 1 ? 'error' : 'errors'}</span>}
        <span class="chips">
          {s.services.slice(0, 12).map((x) => (
            <ServiceChip key={x.name} service={x.name} count={x.count} />
          ))}
          {s.services.length > 12 && <span class="more">+{s.services.length - 12} more services</span>}
        </span>
        <span class="spacer" />
        <span class="result-time" title={formatTime(s.start, tz)}>
          {formatTime(s.start, tz)} <span class="muted">· {formatRelative(s.start, props.nowUs)}</span>
        </span>
      </div>
      {props.children}
    </li>
  );
}
