import { useMemo, useState } from 'preact/hooks';
import * as api from '../lib/api';
import { compareTraces, diffKind, diffTotals, flattenDiff, type DiffNode } from '../lib/compare';
import { formatDuration } from '../lib/format';
import type { Trace } from '../lib/types';
import { href, onLinkClick } from '../router';
import { ErrorBox, Loading, ServiceDot, useAsync } from './common';

// ComparePage matches two traces' structures by service/operation path and
// shows what is in only one of them and how counts and durations differ.
export function ComparePage({ a, b }: { a: string; b: string }) {
  const res = useAsync((signal) => Promise.all([api.trace(a, signal), api.trace(b, signal)]), [a, b]);
  if (res.loading) return <Loading what="traces" />;
  if (res.error)
    return (
      <main class="page narrow">
        <ErrorBox>Cannot compare: {res.error}</ErrorBox>
      </main>
    );
  return <Compare a={res.data![0].trace} b={res.data![1].trace} />;
}

const kindLabel = { same: 'same', 'only-a': 'only in A', 'only-b': 'only in B', changed: 'count differs' };

function Side({ label, t }: { label: string; t: Trace }) {
  const to = `/trace/${t.traceID}`;
  return (
    <div class={`cmp-side side-${label.toLowerCase()}`}>
      <span class="side-label">{label}</span>
      <a href={href(to)} onClick={onLinkClick(to)}>
        <span class="svc">{t.root.service}</span>: {t.root.operation}
      </a>
      <span class="muted mono">{t.traceID}</span>
      <span>
        {formatDuration(t.duration)} · {t.spans.length} spans · {t.errors} errors
      </span>
    </div>
  );
}

export function Compare({ a, b }: { a: Trace; b: Trace }) {
  const tree = useMemo(() => compareTraces(a, b), [a, b]);
  const totals = useMemo(() => diffTotals(tree), [tree]);
  const [onlyDiff, setOnlyDiff] = useState(false);
  const rows = useMemo(() => {
    const all = flattenDiff(tree);
    return onlyDiff ? all.filter((n) => diffKind(n) !== 'same' || hasDiffBelow(n)) : all;
  }, [tree, onlyDiff]);
  return (
    <main class="page compare-page">
      <h1>Compare traces</h1>
      <div class="cmp-sides">
        <Side label="A" t={a} />
        <Side label="B" t={b} />
      </div>
      <div class="cmp-summary" id="compare-summary">
        <span class="badge">{totals.same} same</span>
        <span class="badge only-a">{totals.onlyA} only in A</span>
        <span class="badge only-b">{totals.onlyB} only in B</span>
        <span class="badge changed">{totals.changed} count differs</span>
        <span>
          Duration: {formatDuration(a.duration)} → {formatDuration(b.duration)} <Delta a={a.duration} b={b.duration} />
        </span>
        <div class="spacer" />
        <label class="setting check">
          <input type="checkbox" checked={onlyDiff} onChange={(e) => setOnlyDiff((e.target as HTMLInputElement).checked)} /> Only differences
        </label>
      </div>
      <div class="table-wrap">
        <table class="cmp" aria-label="Structure of both traces">
          <thead>
            <tr>
              <th>Service and operation (by path from the root)</th>
              <th class="num">Spans A</th>
              <th class="num">Spans B</th>
              <th class="num">Time A</th>
              <th class="num">Time B</th>
              <th class="num">Change</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((n, i) => (
              <DiffRow key={i} n={n} />
            ))}
          </tbody>
        </table>
      </div>
    </main>
  );
}

function hasDiffBelow(n: DiffNode): boolean {
  return n.children.some((c) => diffKind(c) !== 'same' || hasDiffBelow(c));
}

function DiffRow({ n }: { n: DiffNode }) {
  const k = diffKind(n);
  return (
    <tr class={`diff-${k}`} title={kindLabel[k]}>
      <td style={{ paddingLeft: `${8 + n.depth * 16}px` }}>
        <span class="diff-mark" aria-label={kindLabel[k]}>{k === 'only-a' ? '−' : k === 'only-b' ? '+' : k === 'changed' ? '≠' : ''}</span>
        <ServiceDot service={n.service} /> <span class="svc">{n.service}</span> <span class="op">{n.operation}</span>
      </td>
      <td class="num">{n.a.count || '–'}</td>
      <td class="num">{n.b.count || '–'}</td>
      <td class="num">{n.a.count ? formatDuration(n.a.total) : '–'}</td>
      <td class="num">{n.b.count ? formatDuration(n.b.total) : '–'}</td>
      <td class="num">{n.a.count && n.b.count ? <Delta a={n.a.total} b={n.b.total} /> : kindLabel[k]}</td>
    </tr>
  );
}

function Delta({ a, b }: { a: number; b: number }) {
  const d = Math.abs(b - a) < 0.5 ? 0 : b - a;
  const pct = a > 0 ? (d / a) * 100 : 0;
  const cls = Math.abs(pct) < 5 ? 'delta' : d > 0 ? 'delta slower' : 'delta faster';
  return (
    <span class={cls}>
      {d >= 0 ? '+' : ''}
      {formatDuration(d)} ({pct >= 0 ? '+' : ''}
      {pct.toFixed(0)}%)
    </span>
  );
}
