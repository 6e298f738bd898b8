import { useMemo, useState } from 'preact/hooks';
import { formatDuration } from '../lib/format';
import { opStats, type OpStats } from '../lib/stats';
import type { Trace } from '../lib/types';
import { ServiceDot } from './common';

type Col = 'service' | 'operation' | 'count' | 'errors' | 'total' | 'avg' | 'min' | 'max' | 'self' | 'selfAvg';
const cols: [Col, string, boolean][] = [
  ['service', 'Service', false], ['operation', 'Operation', false], ['count', 'Count', true], ['errors', 'Errors', true],
  ['total', 'Total', true], ['avg', 'Average', true], ['min', 'Min', true], ['max', 'Max', true],
  ['self', 'Self time', true], ['selfAvg', 'Self avg', true],
];

// SpanTable shows per service and operation statistics of a trace: how many
// spans, their total, average and extreme durations, and self time (time
// not covered by child spans), sortable by any column.
export function SpanTable({ trace }: { trace: Trace }) {
  const stats = useMemo(() => opStats(trace), [trace]);
  const [sort, setSort] = useState<{ col: Col; desc: boolean }>({ col: 'self', desc: true });
  const rows = useMemo(() => {
    const out = [...stats];
    out.sort((a, b) => {
      const x = a[sort.col];
      const y = b[sort.col];
      const c = typeof x === 'number' ? x - (y as number) : String(x).localeCompare(String(y));
      return sort.desc ? -c : c;
    });
    return out;
  }, [stats, sort]);
  const selfTotal = stats.reduce((s, r) => s + r.self, 0) || 1;
  const cell = (r: OpStats, c: Col) => {
    if (c === 'service')
      return (
        <>
          <ServiceDot service={r.service} /> {r.service}
        </>
      );
    if (c === 'operation') return r.operation;
    if (c === 'count' || c === 'errors') return String(r[c]);
    if (c === 'self')
      return (
        <>
          {formatDuration(r.self)} <span class="muted">{((r.self / selfTotal) * 100).toFixed(1)}%</span>
        </>
      );
    return formatDuration(r[c]);
  };
  return (
    <div class="table-wrap">
      <table class="stats" aria-label="Statistics per service and operation">
        <thead>
          <tr>
            {cols.map(([c, label, num]) => (
              <th key={c} class={num ? 'num' : ''} aria-sort={sort.col === c ? (sort.desc ? 'descending' : 'ascending') : undefined}>
                <button type="button" onClick={() => setSort((s) => ({ col: c, desc: s.col === c ? !s.desc : num }))}>
                  {label}
                  {sort.col === c ? (sort.desc ? ' ↓' : ' ↑') : ''}
                </button>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.service + '\u0000' + r.operation} class={r.errors > 0 ? 'has-error' : ''}>
              {cols.map(([c, , num]) => (
                <td key={c} class={num ? 'num' : c}>
                  {cell(r, c)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
