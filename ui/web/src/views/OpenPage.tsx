import { useState } from 'preact/hooks';
import { formatDuration, formatTime } from '../lib/format';
import { parseTraceFile } from '../lib/otlp';
import type { Trace } from '../lib/types';
import { navigate } from '../router';
import { useSettings } from '../settings';
import { ErrorBox, ServiceChip } from './common';
import { TraceView } from './TraceView';

// Traces read from a file live only in this page's memory: nothing is sent
// to the server.
let opened: { name: string; traces: Trace[]; text: string } | null = null;

export function OpenPage({ query }: { query: URLSearchParams }) {
  const { tz } = useSettings();
  const [, force] = useState(0);
  const [error, setError] = useState('');
  const [dragging, setDragging] = useState(false);
  const pick = query.get('trace');

  const read = async (f: File | undefined) => {
    if (!f) return;
    setError('');
    try {
      const text = await f.text();
      const traces = parseTraceFile(text);
      opened = { name: f.name, traces, text };
      force((n) => n + 1);
      navigate(traces.length === 1 ? '/open?trace=0' : '/open');
    } catch (e) {
      setError(`Cannot read ${f.name}: ${(e as Error).message}`);
    }
  };

  if (opened && pick !== null && opened.traces[Number(pick)]) {
    const t = opened.traces[Number(pick)];
    return (
      <TraceView
        key={`${opened.name}:${pick}`}
        trace={t}
        json={opened.traces.length === 1 ? opened.text : undefined}
        fileMode
        extraActions={<span class="badge file-badge" title="Read from a file; not stored">from {opened.name}</span>}
      />
    );
  }
  return (
    <main class="page narrow">
      <h1>Open a trace file</h1>
      <p>View a trace from an OTLP JSON file (as the OpenTelemetry file exporter or <code>/api/v3</code> writes it) or a Jaeger JSON file (as Jaeger's or Scry's <em>Download JSON</em> writes it). The file stays in your browser: it is not stored on the server.</p>
      <label
        class={`dropzone ${dragging ? 'over' : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={(e) => {
          e.preventDefault();
          setDragging(false);
          void read(e.dataTransfer?.files?.[0]);
        }}
      >
        <input id="trace-file" type="file" accept=".json,application/json" onChange={(e) => void read((e.target as HTMLInputElement).files?.[0])} />
        <span>Drop a file here, or <u>choose one</u></span>
      </label>
      {error && <ErrorBox>{error}</ErrorBox>}
      {opened && (
        <>
          <h2>
            {opened.traces.length} {opened.traces.length === 1 ? 'trace' : 'traces'} in {opened.name}
          </h2>
          <ol class="result-list">
            {opened.traces.map((t, i) => (
              <li key={i} class="result">
                <div class="result-head">
                  <button type="button" class="linkish result-title" onClick={() => navigate(`/open?trace=${i}`)}>
                    <span class="svc">{t.root.service}</span>: <span class="op">{t.root.operation}</span>
                    <span class="trace-id">{t.traceID.slice(0, 7)}</span>
                  </button>
                  <span class="result-duration">{formatDuration(t.duration)}</span>
                </div>
                <div class="result-body">
                  <span class="badge">{t.spans.length} spans</span>
                  {t.errors > 0 && <span class="badge error">{t.errors} errors</span>}
                  <span class="chips">
                    {t.services.map((s) => <ServiceChip key={s.name} service={s.name} count={s.count} />)}
                  </span>
                  <span class="spacer" />
                  <span class="result-time">{formatTime(t.start, tz)}</span>
                </div>
              </li>
            ))}
          </ol>
        </>
      )}
    </main>
  );
}
