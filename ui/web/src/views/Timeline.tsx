import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { serviceColor } from '../lib/colors';
import type { Section } from '../lib/critical';
import { formatDuration, ticks, TimeScale } from '../lib/format';
import type { Span, Trace } from '../lib/types';

export const ROW_H = 26;
const OVERSCAN = 12;

export interface TimelineProps {
  trace: Trace;
  rows: Span[];
  scale: TimeScale; // relative to trace.start
  collapsed: ReadonlySet<string>;
  selected: string | null;
  matches: ReadonlySet<string> | null;
  current: string | null; // the find result in focus
  critical: Map<string, Section[]> | null;
  onSelect: (id: string | null) => void;
  onToggle: (id: string) => void;
  onKey: (e: KeyboardEvent) => boolean; // true when handled
  scrollTo: { id: string; n: number } | null; // bring a row into view (n: a counter)
}

// Timeline is the span tree beside time bars. Only the rows in view (and a
// few more) are in the DOM, so traces of any size scroll smoothly.
export function Timeline(p: TimelineProps) {
  const box = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);
  const [nameW, setNameW] = useState(() => Math.min(420, Math.max(260, Math.round(window.innerWidth * 0.3))));

  useEffect(() => {
    const el = box.current!;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  // Keep a requested row (find result, keyboard selection) in view.
  useLayoutEffect(() => {
    if (!p.scrollTo) return;
    const el = box.current!;
    const i = p.rows.findIndex((s) => s.spanID === p.scrollTo!.id);
    if (i < 0) return;
    const top = i * ROW_H;
    const view = el.clientHeight - ROW_H; // minus the sticky ruler
    if (top < el.scrollTop) el.scrollTop = top;
    else if (top + ROW_H > el.scrollTop + view) el.scrollTop = top + ROW_H - view + ROW_H / 2;
    setScrollTop(el.scrollTop);
  }, [p.scrollTo]);

  const first = Math.max(0, Math.floor(scrollTop / ROW_H) - OVERSCAN);
  const last = Math.min(p.rows.length, Math.ceil((scrollTop + height) / ROW_H) + OVERSCAN);
  const window_ = p.rows.slice(first, last);
  const tickList = ticks(p.scale.viewStart, p.scale.viewEnd, 5);

  const startDrag = (e: PointerEvent) => {
    e.preventDefault();
    const x0 = e.clientX;
    const w0 = nameW;
    const move = (m: PointerEvent) => setNameW(Math.min(Math.max(160, w0 + m.clientX - x0), window.innerWidth - 240));
    const up = () => {
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
  };

  const activeID = p.selected ? `row-${p.selected}` : undefined;
  return (
    <div
      class="timeline"
      ref={box}
      tabIndex={0}
      role="tree"
      aria-label="Spans of the trace"
      aria-activedescendant={activeID && p.rows.some((r) => r.spanID === p.selected) ? activeID : undefined}
      onScroll={(e) => setScrollTop((e.target as HTMLDivElement).scrollTop)}
      onKeyDown={(e) => {
        if (p.onKey(e)) e.preventDefault();
      }}
      style={{ '--name-w': `${nameW}px` } as Record<string, string>}
    >
      <div class="ruler" aria-hidden="true">
        <div class="ruler-name">
          Service &amp; operation
          <span class="resizer" onPointerDown={startDrag} title="Drag to resize" />
        </div>
        <div class="ruler-track">
          {tickList.map((t) => (
            <span key={t} class="tick" style={{ left: `${p.scale.x(t) * 100}%` }}>
              {formatDuration(t)}
            </span>
          ))}
        </div>
      </div>
      <div class="rows" style={{ height: `${p.rows.length * ROW_H}px` }}>
        <div class="grid-lines" aria-hidden="true">
          {tickList.map((t) => (
            <span key={t} style={{ left: `${p.scale.x(t) * 100}%` }} />
          ))}
        </div>
        {window_.map((s, k) => (
          <Row key={s.spanID + ':' + (first + k)} s={s} top={(first + k) * ROW_H} p={p} />
        ))}
      </div>
    </div>
  );
}

function Row({ s, top, p }: { s: Span; top: number; p: TimelineProps }) {
  const rel = s.start - p.trace.start;
  const bar = p.scale.bar(rel, s.duration);
  const color = serviceColor(s.service);
  const collapsed = p.collapsed.has(s.spanID);
  const cls = ['row'];
  if (p.selected === s.spanID) cls.push('selected');
  if (p.matches?.has(s.spanID)) cls.push('match');
  if (p.current === s.spanID) cls.push('current');
  if (s.error) cls.push('has-error');
  const label = formatDuration(s.duration);
  // The duration label goes right of the bar, else left of it, else inside.
  const where = !bar || bar[0] + bar[1] < 0.85 ? 'right' : bar[0] > 0.12 ? 'left' : 'inside';
  const crit = p.critical?.get(s.spanID);
  return (
    <div
      id={`row-${s.spanID}`}
      class={cls.join(' ')}
      style={{ transform: `translateY(${top}px)` }}
      role="treeitem"
      aria-level={s.depth + 1}
      aria-expanded={s.hasChildren ? !collapsed : undefined}
      aria-selected={p.selected === s.spanID}
      data-span-id={s.spanID}
      onClick={() => p.onSelect(p.selected === s.spanID ? null : s.spanID)}
    >
      <div class="name" style={{ paddingLeft: `${8 + s.depth * 14}px` }}>
        {s.hasChildren ? (
          <button
            type="button"
            class="toggle"
            tabIndex={-1}
            aria-label={collapsed ? 'Expand' : 'Collapse'}
            onClick={(e) => {
              e.stopPropagation();
              p.onToggle(s.spanID);
            }}
          >
            {collapsed ? '▸' : '▾'}
            {collapsed && <span class="hidden-count">{countDescendants(s)}</span>}
          </button>
        ) : (
          <span class="toggle-space" />
        )}
        <span class="svc-mark" style={{ background: color }} />
        {s.error && <span class="err-icon" title="error" aria-label="error">!</span>}
        <span class="svc">{s.service}</span>
        <span class="op">{s.operation}</span>
      </div>
      <div class="track">
        {bar && (
          <div class="bar" style={{ left: `${bar[0] * 100}%`, width: `max(2px, ${bar[1] * 100}%)`, background: color }}>
            {crit?.map((c, i) => {
              const seg = p.scale.bar(c.start - p.trace.start, c.end - c.start);
              if (!seg || !bar) return null;
              const l = bar[1] > 0 ? ((seg[0] - bar[0]) / bar[1]) * 100 : 0;
              const w = bar[1] > 0 ? (seg[1] / bar[1]) * 100 : 100;
              return <span key={i} class="crit" style={{ left: `${l}%`, width: `${w}%` }} />;
            })}
            {s.events.map((ev, i) => {
              const x = p.scale.x(ev.time - p.trace.start);
              if (!bar || x < bar[0] || x > bar[0] + bar[1]) return null;
              return <span key={`e${i}`} class="event-mark" style={{ left: `${bar[1] > 0 ? ((x - bar[0]) / bar[1]) * 100 : 0}%` }} />;
            })}
          </div>
        )}
        {bar && (
          <span
            class={`dur ${where}`}
            style={
              where === 'right'
                ? { left: `calc(${(bar[0] + bar[1]) * 100}% + 4px)` }
                : where === 'left'
                  ? { right: `calc(${(1 - bar[0]) * 100}% + 4px)` }
                  : { right: `calc(${(1 - bar[0] - bar[1]) * 100}% + 4px)` }
            }
          >
            {label}
          </span>
        )}
      </div>
    </div>
  );
}

function countDescendants(s: Span): number {
  let n = 0;
  const stack = [...s.children];
  while (stack.length > 0) {
    const c = stack.pop()!;
    n++;
    stack.push(...c.children);
  }
  return n;
}
