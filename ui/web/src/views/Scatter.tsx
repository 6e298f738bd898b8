import { useEffect, useRef, useState } from 'preact/hooks';
import { errorColor, serviceColor } from '../lib/colors';
import { formatClock, formatDuration, formatTime, niceStep, type TimeZone } from '../lib/format';
import type { TraceSummary } from '../lib/stats';

// Scatter plots search results: start time across, duration up; a dot per
// trace, sized by span count, red when the trace has errors. Clicking a dot
// opens its trace.
export function Scatter({ items, tz, onOpen }: { items: TraceSummary[]; tz: TimeZone; onOpen: (id: string) => void }) {
  const ref = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(800);
  const [hover, setHover] = useState<TraceSummary | null>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setWidth(el.clientWidth || 800));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  if (items.length === 0) return null;
  const height = 180;
  const m = { l: 64, r: 16, t: 12, b: 26 };
  const t0 = Math.min(...items.map((i) => i.start));
  const t1 = Math.max(...items.map((i) => i.start));
  const pad = Math.max((t1 - t0) * 0.03, 1e6);
  const x0 = t0 - pad;
  const x1 = t1 + pad;
  const dMax = Math.max(...items.map((i) => i.duration)) * 1.1 || 1;
  const maxSpans = Math.max(...items.map((i) => i.spans));
  const px = (t: number) => m.l + ((t - x0) / (x1 - x0)) * (width - m.l - m.r);
  const py = (d: number) => height - m.b - (d / dMax) * (height - m.t - m.b);
  const r = (n: number) => 3 + 5 * Math.sqrt(n / Math.max(1, maxSpans));
  const yStep = niceStep(dMax, 4);
  const yTicks: number[] = [];
  for (let v = 0; v <= dMax; v += yStep) yTicks.push(v);
  const xStep = niceStep(x1 - x0, Math.max(2, Math.floor(width / 120)));
  const xTicks: number[] = [];
  for (let v = Math.ceil(x0 / xStep) * xStep; v <= x1; v += xStep) xTicks.push(v);
  return (
    <div class="scatter" ref={ref}>
      <svg width={width} height={height} role="img" aria-label={`Duration by start time of ${items.length} traces`}>
        {yTicks.map((v) => (
          <g key={`y${v}`}>
            <line class="grid" x1={m.l} x2={width - m.r} y1={py(v)} y2={py(v)} />
            <text class="axis" x={m.l - 6} y={py(v) + 4} text-anchor="end">{formatDuration(v)}</text>
          </g>
        ))}
        {xTicks.map((v) => (
          <text key={`x${v}`} class="axis" x={px(v)} y={height - 8} text-anchor="middle">{formatClock(v, tz)}</text>
        ))}
        {items.map((it) => (
          <circle
            key={it.traceID}
            class="point"
            data-trace-id={it.traceID}
            cx={px(it.start)}
            cy={py(it.duration)}
            r={r(it.spans)}
            fill={it.errors > 0 ? errorColor : serviceColor(it.service)}
            onClick={() => onOpen(it.traceID)}
            onMouseEnter={() => setHover(it)}
            onMouseLeave={() => setHover(null)}
          >
            <title>{`${it.service}: ${it.operation}\n${formatDuration(it.duration)} · ${it.spans} spans${it.errors ? ` · ${it.errors} errors` : ''}\n${formatTime(it.start, tz)}`}</title>
          </circle>
        ))}
      </svg>
      {hover && (
        <div class="scatter-tip" style={{ left: `${Math.min(px(hover.start) + 10, width - 260)}px`, top: `${Math.max(py(hover.duration) - 40, 0)}px` }}>
          <strong>{hover.service}</strong>: {hover.operation}
          <br />
          {formatDuration(hover.duration)} · {hover.spans} spans{hover.errors > 0 ? ` · ${hover.errors} errors` : ''}
        </div>
      )}
    </div>
  );
}
