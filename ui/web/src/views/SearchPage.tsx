import { useMemo, useState } from 'preact/hooks';
import * as api from '../lib/api';
import { formatDuration, formatRelative, formatTime } from '../lib/format';
import { sortSummaries, summarize, type SortOrder, type TraceSummary } from '../lib/stats';
import { href, navigate, onLinkClick } from '../router';
import { useSettings } from '../settings';
import { ErrorBox, Loading, ServiceChip, useAsync } from './common';
import { Scatter } from './Scatter';
import { apiQuery, SearchForm } from './SearchForm';

export function SearchPage({ query }: { query: URLSearchParams }) {
  const active = [...query.keys()].length > 0;
  // The form keeps its own state; a new URL (back/forward) re-creates it.
  return (
    <main class="search-page">
      <SearchForm key={query.toString()} query={query} />
      <section class="results" aria-label="Search results">
        {active ? <Results query={query} /> : <Intro />}
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
        Or paste trace IDs in the box above, <a href={href('/open')} onClick={onLinkClick('/open')}>open a trace file</a>, or look at the{' '}
        <a href={href('/dependencies')} onClick={onLinkClick('/dependencies')}>service dependencies</a>.
      </p>
    </div>
  );
}

const sorts: [SortOrder, string][] = [['recent', 'Most recent'], ['longest', 'Longest first'], ['shortest', 'Shortest first'], ['spans', 'Most spans']];

function Results({ query }: { query: URLSearchParams }) {
  const { tz } = useSettings();
  const key = query.toString();
  const res = useAsync((signal) => api.searchTraces(apiQuery(query), signal), [key]);
  const [order, setOrder] = useState<SortOrder>('recent');
  const [picked, setPicked] = useState<string[]>([]);
  const summaries = useMemo(() => (res.data?.traces ?? []).map(summarize), [res.data]);
  const sorted = useMemo(() => sortSummaries(summaries, order), [summaries, order]);
  const maxDur = Math.max(1, ...summaries.map((s) => s.duration));
  const nowUs = Date.now() * 1000;

  if (res.loading && !res.data) return <Loading what="traces" />;
  if (res.error) return <ErrorBox>Cannot search: {res.error}</ErrorBox>;
  const toggle = (id: string) =>
    setPicked((p) => (p.includes(id) ? p.filter((x) => x !== id) : [...p.slice(-1), id]));
  return (
    <>
      {(res.data?.errors ?? []).map((e, i) => (
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
          <ResultItem key={s.traceID} s={s} tz={tz} nowUs={nowUs} maxDur={maxDur} picked={picked.includes(s.traceID)} onPick={() => toggle(s.traceID)} />
        ))}
      </ol>
    </>
  );
}

function ResultItem(props: { s: TraceSummary; tz: 'local' | 'utc'; nowUs: number; maxDur: number; picked: boolean; onPick: () => void }) {
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
    </li>
  );
}
