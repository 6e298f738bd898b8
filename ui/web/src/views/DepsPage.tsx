import { useMemo, useState } from 'preact/hooks';
import * as api from '../lib/api';
import { serviceColor } from '../lib/colors';
import { edgePath, layoutGraph, NODE_H, NODE_W, type DepLink } from '../lib/graph';
import { navigate } from '../router';
import { ErrorBox, Loading, useAsync } from './common';
import { lookbacks } from './SearchForm';

const ms: Record<string, number> = { m: 60e3, h: 3600e3, d: 86400e3 };
const toMs = (lb: string) => Number(lb.slice(0, -1)) * (ms[lb.slice(-1)] ?? 3600e3);

// DepsPage draws the service graph of /api/dependencies: callers left of
// the services they call, edges labelled with call counts. Clicking a
// service highlights its calls; a table lists every edge.
export function DepsPage({ query }: { query: URLSearchParams }) {
  const lookback = query.get('lookback') ?? '1d';
  const res = useAsync((signal) => api.dependencies(Date.now(), toMs(lookback), signal), [lookback]);
  return (
    <main class="page deps-page">
      <div class="deps-head">
        <h1>Service dependencies</h1>
        <label class="setting">
          Lookback
          <select id="deps-lookback" value={lookback} onChange={(e) => navigate(`/dependencies?lookback=${(e.target as HTMLSelectElement).value}`, { replace: true })}>
            {lookbacks.filter(([v]) => v !== 'custom').map(([v, l]) => (
              <option key={v} value={v}>{l}</option>
            ))}
          </select>
        </label>
      </div>
      {res.loading && !res.data && <Loading what="dependencies" />}
      {res.error && <ErrorBox>Cannot load dependencies: {res.error}</ErrorBox>}
      {res.data && (res.data.length === 0 ? <p class="empty">No calls between services in this time range.</p> : <Graph links={res.data} />)}
    </main>
  );
}

function Graph({ links }: { links: DepLink[] }) {
  const layout = useMemo(() => layoutGraph(links), [links]);
  const [focus, setFocus] = useState<string | null>(null);
  const [tab, setTab] = useState<'graph' | 'table'>('graph');
  const maxCalls = Math.max(1, ...layout.edges.map((e) => e.calls));
  const near = (name: string) => !focus || name === focus || layout.edges.some((e) => (e.from.name === focus && e.to.name === name) || (e.to.name === focus && e.from.name === name));
  return (
    <>
      <div class="tabs" role="tablist">
        <button type="button" role="tab" aria-selected={tab === 'graph'} class={tab === 'graph' ? 'active' : ''} onClick={() => setTab('graph')}>Graph</button>
        <button type="button" role="tab" aria-selected={tab === 'table'} class={tab === 'table' ? 'active' : ''} onClick={() => setTab('table')}>Table</button>
        <span class="muted small">
          {layout.nodes.length} services, {layout.edges.length} calling pairs{focus ? ` · showing calls of ${focus}` : ' · click a service to highlight its calls'}
        </span>
      </div>
      {tab === 'graph' ? (
        <div class="graph-wrap">
          <svg class="dep-graph" width={layout.width} height={layout.height + 40} role="img" aria-label="Service dependency graph" onClick={(e) => (e.target as Element).tagName === 'svg' && setFocus(null)}>
            <defs>
              <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" markerUnits="userSpaceOnUse" orient="auto-start-reverse">
                <path d="M 0 0 L 10 5 L 0 10 z" class="arrow-head" />
              </marker>
            </defs>
            {layout.edges.map((e, i) => {
              const on = !focus || e.from.name === focus || e.to.name === focus;
              return (
                <path
                  key={i}
                  d={edgePath(e)}
                  class={`edge ${on ? '' : 'dim'} ${e.back ? 'back' : ''}`}
                  stroke-width={1 + 3 * Math.sqrt(e.calls / maxCalls)}
                  marker-end="url(#arrow)"
                >
                  <title>{`${e.from.name} → ${e.to.name}: ${e.calls} calls`}</title>
                </path>
              );
            })}
            {layout.nodes.map((n) => (
              <g
                key={n.name}
                class={`node ${near(n.name) ? '' : 'dim'} ${focus === n.name ? 'focus' : ''}`}
                transform={`translate(${n.x},${n.y})`}
                onClick={() => setFocus(focus === n.name ? null : n.name)}
                tabIndex={0}
                role="button"
                aria-label={`${n.name}: ${n.calls} calls`}
                onKeyDown={(e) => (e.key === 'Enter' || e.key === ' ') && setFocus(focus === n.name ? null : n.name)}
                data-service={n.name}
              >
                <rect width={NODE_W} height={NODE_H} rx="6" />
                <rect width="6" height={NODE_H} rx="3" fill={serviceColor(n.name)} />
                <text x="14" y={NODE_H / 2 + 4}>{n.name.length > 26 ? n.name.slice(0, 25) + '…' : n.name}</text>
                <title>{n.name}</title>
              </g>
            ))}
          </svg>
        </div>
      ) : (
        <div class="table-wrap">
          <table class="stats" aria-label="Calls between services">
            <thead>
              <tr>
                <th>Caller</th>
                <th>Callee</th>
                <th class="num">Calls</th>
              </tr>
            </thead>
            <tbody>
              {[...layout.edges].sort((a, b) => b.calls - a.calls).map((e, i) => (
                <tr key={i}>
                  <td>{e.from.name}</td>
                  <td>{e.to.name}</td>
                  <td class="num">{e.calls}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
