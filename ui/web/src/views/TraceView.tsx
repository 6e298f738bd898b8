import type { ComponentChildren } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { criticalBySpan, criticalPath } from '../lib/critical';
import { formatDuration, formatTime, TimeScale } from '../lib/format';
import { ancestors, collapsedToDepth, visibleSpans } from '../lib/trace';
import type { Span, Trace } from '../lib/types';
import { useSettings } from '../settings';
import { CopyButton, ServiceChip } from './common';
import { Flamegraph } from './Flamegraph';
import { findMatches } from '../lib/find';
import { Minimap } from './Minimap';
import { SpanDetail } from './SpanDetail';
import { SpanTable } from './SpanTable';
import { Timeline } from './Timeline';

export type View = 'timeline' | 'table' | 'flame';

export interface TraceViewProps {
  trace: Trace;
  json?: string; // the trace's JSON for download
  span?: string | null; // span to select at first
  view?: View;
  onState?: (s: { span: string | null; view: View }) => void;
  fileMode?: boolean;
  extraActions?: ComponentChildren;
}

export function TraceView(props: TraceViewProps) {
  const { trace } = props;
  const { tz } = useSettings();
  const [view, setView] = useState<View>(props.view ?? 'timeline');
  const [collapsed, setCollapsed] = useState<Set<string>>(() => new Set());
  const [selected, setSelected] = useState<string | null>(props.span && trace.byID.has(props.span) ? props.span : null);
  const [range, setRange] = useState<[number, number]>([0, 1]);
  const [find, setFind] = useState('');
  const [matchIdx, setMatchIdx] = useState(0);
  const [showCritical, setShowCritical] = useState(true);
  const [scrollTo, setScrollTo] = useState<{ id: string; n: number } | null>(props.span ? { id: props.span, n: 0 } : null);
  const findBox = useRef<HTMLInputElement>(null);
  const timelineRef = useRef<HTMLDivElement>(null);

  const rows = useMemo(() => visibleSpans(trace, collapsed), [trace, collapsed]);
  const critical = useMemo(() => criticalBySpan(criticalPath(trace)), [trace]);
  const matchList = useMemo(() => findMatches(trace, find), [trace, find]);
  const matchSet = useMemo(() => (find.trim() ? new Set(matchList.map((s) => s.spanID)) : null), [matchList, find]);
  const current = matchList.length > 0 ? matchList[Math.min(matchIdx, matchList.length - 1)] : null;
  const scale = new TimeScale(range[0] * trace.duration, range[1] * trace.duration);
  const selectedSpan = selected ? (trace.byID.get(selected) ?? null) : null;

  useEffect(() => {
    props.onState?.({ span: selected, view });
  }, [selected, view]);

  // reveal makes a span's row visible (expanding its ancestors) and
  // scrolls to it.
  const reveal = (s: Span) => {
    const hidden = ancestors(s).filter((a) => collapsed.has(a.spanID));
    if (hidden.length > 0) {
      setCollapsed((c) => {
        const n = new Set(c);
        hidden.forEach((a) => n.delete(a.spanID));
        return n;
      });
    }
    setScrollTo((x) => ({ id: s.spanID, n: (x?.n ?? 0) + 1 }));
  };

  const select = (id: string | null) => {
    setSelected(id);
    const s = id ? trace.byID.get(id) : null;
    if (s) reveal(s);
  };

  const goMatch = (delta: number) => {
    if (matchList.length === 0) return;
    const i = (Math.min(matchIdx, matchList.length - 1) + delta + matchList.length) % matchList.length;
    setMatchIdx(i);
    reveal(matchList[i]);
  };
  // A new query starts at its first match (set at once, not in an effect,
  // so an Enter typed right after the query moves on from there).
  const onFind = (q: string) => {
    setFind(q);
    setMatchIdx(0);
    const first = findMatches(trace, q)[0];
    if (first) reveal(first);
  };

  const toggle = (id: string) =>
    setCollapsed((c) => {
      const n = new Set(c);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });

  // Keys in the timeline: arrows (or j/k/h/l) move and fold, Enter opens
  // the detail, Escape closes it.
  const onKey = (e: KeyboardEvent): boolean => {
    const i = selected ? rows.findIndex((r) => r.spanID === selected) : -1;
    const s = i >= 0 ? rows[i] : null;
    const move = (j: number) => {
      const r = rows[Math.max(0, Math.min(rows.length - 1, j))];
      if (r) select(r.spanID);
    };
    switch (e.key) {
      case 'ArrowDown':
      case 'j':
        move(i + 1);
        return true;
      case 'ArrowUp':
      case 'k':
        move(i < 0 ? 0 : i - 1);
        return true;
      case 'Home':
        move(0);
        return true;
      case 'End':
        move(rows.length - 1);
        return true;
      case 'PageDown':
        move(i + 20);
        return true;
      case 'PageUp':
        move(i - 20);
        return true;
      case 'ArrowRight':
      case 'l':
        if (s?.hasChildren && collapsed.has(s.spanID)) toggle(s.spanID);
        else if (s?.hasChildren) move(i + 1);
        return true;
      case 'ArrowLeft':
      case 'h':
        if (s?.hasChildren && !collapsed.has(s.spanID)) toggle(s.spanID);
        else if (s?.parent) select(s.parent.spanID);
        return true;
      case 'Enter':
      case ' ':
        if (s && s.hasChildren) toggle(s.spanID);
        return true;
      case 'Escape':
        setSelected(null);
        return true;
    }
    return false;
  };

  // Global keys: "/" focuses find.
  useEffect(() => {
    const h = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (e.key === '/' && !['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName)) {
        e.preventDefault();
        findBox.current?.focus();
        findBox.current?.select();
      }
    };
    window.addEventListener('keydown', h);
    return () => window.removeEventListener('keydown', h);
  }, []);

  const download = () => {
    const blob = new Blob([props.json ?? JSON.stringify({ data: [] })], { type: 'application/json' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `trace-${trace.traceID}.json`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  };

  const maxDepth = trace.depth;
  return (
    <main class="trace-page">
      <header class="trace-head">
        <div class="trace-title">
          <h1>
            <span class="svc">{trace.root.service}</span>: <span class="op">{trace.root.operation}</span>
          </h1>
          <span class="trace-id mono">{trace.traceID}</span>
          <CopyButton text={trace.traceID} label="Copy ID" />
          <div class="spacer" />
          {props.extraActions}
          {props.json && (
            <button type="button" onClick={download} id="download-json">
              Download JSON
            </button>
          )}
        </div>
        <dl class="trace-facts">
          <div><dt>Start</dt><dd>{formatTime(trace.start, tz)}</dd></div>
          <div><dt>Duration</dt><dd>{formatDuration(trace.duration)}</dd></div>
          <div><dt>Services</dt><dd>{trace.services.length}</dd></div>
          <div><dt>Depth</dt><dd>{trace.depth}</dd></div>
          <div><dt>Spans</dt><dd>{trace.spans.length}</dd></div>
          <div><dt>Errors</dt><dd class={trace.errors > 0 ? 'status-error' : ''}>{trace.errors}</dd></div>
        </dl>
        <div class="chips">
          {trace.services.map((s) => (
            <ServiceChip key={s.name} service={s.name} count={s.count} />
          ))}
        </div>
        {trace.warnings.length > 0 && (
          <details class="trace-warnings">
            <summary>{trace.warnings.length} warning(s)</summary>
            <ul>{trace.warnings.slice(0, 50).map((w, i) => <li key={i}>{w}</li>)}</ul>
          </details>
        )}
      </header>
      <div class="toolbar" role="toolbar" aria-label="Trace view">
        <div class="tabs" role="tablist">
          {(['timeline', 'table', 'flame'] as View[]).map((v) => (
            <button key={v} type="button" role="tab" aria-selected={view === v} class={view === v ? 'active' : ''} onClick={() => setView(v)} id={`tab-${v}`}>
              {v === 'timeline' ? 'Timeline' : v === 'table' ? 'Statistics' : 'Flamegraph'}
            </button>
          ))}
        </div>
        {view === 'timeline' && (
          <>
            <div class="fold">
              <button type="button" onClick={() => setCollapsed(new Set())} id="expand-all">Expand all</button>
              <button type="button" onClick={() => setCollapsed(collapsedToDepth(trace, 0))} id="collapse-all">Collapse all</button>
              <label class="setting">
                Levels
                <select id="expand-depth" value="" onChange={(e) => {
                  const d = Number((e.target as HTMLSelectElement).value);
                  if (d > 0) setCollapsed(collapsedToDepth(trace, d - 1));
                }}>
                  <option value="">…</option>
                  {Array.from({ length: Math.min(maxDepth, 12) }, (_, i) => i + 1).map((d) => (
                    <option key={d} value={d}>{d}</option>
                  ))}
                </select>
              </label>
              <label class="setting check">
                <input type="checkbox" checked={showCritical} onChange={(e) => setShowCritical((e.target as HTMLInputElement).checked)} /> Critical path
              </label>
            </div>
            <div class="spacer" />
            <form class="find" role="search" onSubmit={(e) => e.preventDefault()}>
              <input
                ref={findBox}
                id="find-in-trace"
                type="search"
                placeholder="Find in trace  ( / )"
                aria-label="Find in trace"
                value={find}
                onInput={(e) => onFind((e.target as HTMLInputElement).value)}
                onKeyDown={(e) => {
                  if (e.key === 'Enter') {
                    e.preventDefault();
                    goMatch(e.shiftKey ? -1 : 1);
                  } else if (e.key === 'Escape') {
                    onFind('');
                    timelineRef.current?.querySelector<HTMLElement>('.timeline')?.focus();
                  }
                }}
              />
              <span class="find-count" aria-live="polite" id="find-count">
                {find.trim() ? (matchList.length ? `${Math.min(matchIdx, matchList.length - 1) + 1} of ${matchList.length}` : 'no match') : ''}
              </span>
              <button type="button" onClick={() => goMatch(-1)} disabled={matchList.length === 0} aria-label="Previous match">↑</button>
              <button type="button" onClick={() => goMatch(1)} disabled={matchList.length === 0} aria-label="Next match">↓</button>
            </form>
          </>
        )}
      </div>
      <div class={`trace-body ${selectedSpan ? 'with-detail' : ''}`}>
        <div class="trace-main" ref={timelineRef}>
          {view === 'timeline' && (
            <>
              <Minimap trace={trace} range={range} onRange={setRange} />
              <Timeline
                trace={trace}
                rows={rows}
                scale={scale}
                collapsed={collapsed}
                selected={selected}
                matches={matchSet}
                current={current?.spanID ?? null}
                critical={showCritical ? critical : null}
                onSelect={select}
                onToggle={toggle}
                onKey={onKey}
                scrollTo={scrollTo}
              />
            </>
          )}
          {view === 'table' && <SpanTable trace={trace} />}
          {view === 'flame' && <Flamegraph trace={trace} selected={selected} onSelect={select} />}
        </div>
        {selectedSpan && (
          <SpanDetail trace={trace} span={selectedSpan} tz={tz} onSelect={(id) => select(id)} onClose={() => setSelected(null)} fileMode={props.fileMode} />
        )}
      </div>
    </main>
  );
}
