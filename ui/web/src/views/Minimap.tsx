import { useEffect, useRef, useState } from 'preact/hooks';
import { serviceColor } from '../lib/colors';
import { formatDuration, ticks } from '../lib/format';
import type { Trace } from '../lib/types';

// Minimap draws the whole trace small (a line per span, in service colours)
// and selects the time range the timeline shows: drag across it to zoom in,
// drag the window to move it, double-click to see everything.
export function Minimap(props: { trace: Trace; range: [number, number]; onRange: (r: [number, number]) => void }) {
  const { trace, range, onRange } = props;
  const wrap = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const [width, setWidth] = useState(800);
  const [draft, setDraft] = useState<[number, number] | null>(null);
  const height = 56;

  useEffect(() => {
    const el = wrap.current!;
    const ro = new ResizeObserver(() => setWidth(Math.max(100, el.clientWidth)));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  useEffect(() => {
    const c = canvas.current!;
    const dpr = window.devicePixelRatio || 1;
    c.width = Math.round(width * dpr);
    c.height = Math.round(height * dpr);
    const ctx = c.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const n = trace.spans.length;
    const dur = trace.duration || 1;
    const rowH = Math.max(0.5, Math.min(6, (height - 4) / Math.max(1, n)));
    const step = n > (height - 4) * 4 ? n / ((height - 4) * 4) : 1; // sample huge traces
    for (let f = 0; f < n; f += step) {
      const s = trace.spans[Math.floor(f)];
      const x = ((s.start - trace.start) / dur) * width;
      const w = Math.max(1, (s.duration / dur) * width);
      const y = 2 + (Math.floor(f) / n) * (height - 4);
      ctx.fillStyle = s.error ? '#d73a49' : serviceColor(s.service);
      ctx.fillRect(x, y, w, Math.max(1, rowH - (rowH > 2 ? 1 : 0)));
    }
  }, [trace, width]);

  const frac = (e: PointerEvent) => {
    const r = wrap.current!.getBoundingClientRect();
    return Math.min(1, Math.max(0, (e.clientX - r.left) / r.width));
  };

  const onDown = (e: PointerEvent) => {
    if (e.button !== 0) return;
    e.preventDefault();
    const f0 = frac(e);
    const inside = f0 > range[0] && f0 < range[1] && range[1] - range[0] < 1;
    const r0 = range;
    let moved = false;
    const move = (m: PointerEvent) => {
      const f = frac(m);
      moved = true;
      if (inside) {
        const w = r0[1] - r0[0];
        const a = Math.min(1 - w, Math.max(0, r0[0] + f - f0));
        onRange([a, a + w]);
      } else {
        setDraft([Math.min(f0, f), Math.max(f0, f)]);
      }
    };
    const up = (u: PointerEvent) => {
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
      setDraft(null);
      if (inside || !moved) return;
      const f = frac(u);
      const a = Math.min(f0, f);
      const b = Math.max(f0, f);
      if (b - a > 0.002) onRange([a, b]);
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
  };

  const shown = draft ?? range;
  const zoomed = range[0] > 0 || range[1] < 1;
  return (
    <div class="minimap-box">
      <div class="minimap-ticks" aria-hidden="true">
        {ticks(0, trace.duration, 6).map((t) => (
          <span key={t} style={{ left: `${(t / (trace.duration || 1)) * 100}%` }}>{formatDuration(t)}</span>
        ))}
      </div>
      <div
        class="minimap"
        ref={wrap}
        onPointerDown={onDown}
        onDblClick={() => onRange([0, 1])}
        title="Drag to select a time range; double-click to see the whole trace"
      >
        <canvas ref={canvas} style={{ width: `${width}px`, height: `${height}px` }} aria-label="Overview of the whole trace" role="img" />
        <div class="mm-shade" style={{ left: '0', width: `${shown[0] * 100}%` }} />
        <div class="mm-shade" style={{ left: `${shown[1] * 100}%`, right: '0' }} />
        <div class={`mm-window ${draft ? 'draft' : ''}`} style={{ left: `${shown[0] * 100}%`, width: `${(shown[1] - shown[0]) * 100}%` }} />
      </div>
      {zoomed && (
        <button type="button" class="mm-reset" onClick={() => onRange([0, 1])}>
          Reset zoom
        </button>
      )}
    </div>
  );
}
