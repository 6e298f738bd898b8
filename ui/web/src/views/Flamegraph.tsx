import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { serviceColor } from '../lib/colors';
import { formatDuration } from '../lib/format';
import type { Span, Trace } from '../lib/types';

const ROW = 20;

// Flamegraph stacks spans by depth with their widths in time: a root across
// the top, its children below it. Spans narrower than a pixel are left out;
// clicking one selects it.
export function Flamegraph(props: { trace: Trace; selected: string | null; onSelect: (id: string) => void }) {
  const { trace } = props;
  const ref = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(1000);
  const [focus, setFocus] = useState<Span | null>(null);
  useEffect(() => {
    const el = ref.current!;
    const ro = new ResizeObserver(() => setWidth(Math.max(200, el.clientWidth)));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  const from = focus ? focus.start : trace.start;
  const to = focus ? focus.start + focus.duration : trace.end;
  const baseDepth = focus ? focus.depth : 0;
  const boxes = useMemo(() => {
    const span = Math.max(to - from, 1e-9);
    const out: { s: Span; x: number; w: number }[] = [];
    for (const s of trace.spans) {
      if (s.depth < baseDepth) continue;
      if (focus && !isUnder(s, focus)) continue;
      const a = Math.max(s.start, from);
      const b = Math.min(s.start + s.duration, to);
      const w = ((b - a) / span) * width;
      if (w < 1 && !(s.duration === 0 && b >= a)) continue;
      out.push({ s, x: ((a - from) / span) * width, w: Math.max(w, 1) });
    }
    return out;
  }, [trace, width, focus]);
  const depth = Math.max(1, ...boxes.map((b) => b.s.depth - baseDepth + 1));
  return (
    <div class="flame-wrap">
      <p class="muted small">
        Each box is a span, as wide as its duration, below its parent. Click to select; double-click to zoom into a span.
        {focus && (
          <>
            {' '}
            <button type="button" onClick={() => setFocus(null)}>Show whole trace</button>
          </>
        )}
      </p>
      <div class="flame" ref={ref} style={{ height: `${depth * ROW}px` }} role="list" aria-label="Flamegraph">
        {boxes.map(({ s, x, w }) => (
          <div
            key={s.spanID + s.index}
            role="listitem"
            class={`flame-box ${props.selected === s.spanID ? 'selected' : ''} ${s.error ? 'has-error' : ''}`}
            style={{ left: `${x}px`, width: `${w}px`, top: `${(s.depth - baseDepth) * ROW}px`, background: serviceColor(s.service) }}
            title={`${s.service}: ${s.operation} · ${formatDuration(s.duration)} (self ${formatDuration(s.selfTime)})`}
            data-span-id={s.spanID}
            onClick={() => props.onSelect(s.spanID)}
            onDblClick={() => setFocus(s)}
          >
            {w > 40 ? `${s.operation} · ${formatDuration(s.duration)}` : ''}
          </div>
        ))}
      </div>
    </div>
  );
}

function isUnder(s: Span, top: Span): boolean {
  for (let p: Span | null = s; p; p = p.parent) if (p === top) return true;
  return false;
}
