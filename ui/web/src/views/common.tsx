import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { serviceColor } from '../lib/colors';
import type { KV } from '../lib/types';

// Shared small components. Every string from a trace is rendered as a text
// child (never as markup): Preact escapes it.

export function ServiceDot({ service }: { service: string }) {
  return <span class="dot" style={{ background: serviceColor(service) }} aria-hidden="true" />;
}

export function ServiceChip({ service, count }: { service: string; count?: number }) {
  return (
    <span class="chip" title={service} style={{ borderColor: serviceColor(service) }}>
      <ServiceDot service={service} />
      <span class="chip-name">{service}</span>
      {count !== undefined && <span class="chip-count">{count}</span>}
    </span>
  );
}

export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  useEffect(() => {
    if (!done) return;
    const t = setTimeout(() => setDone(false), 1200);
    return () => clearTimeout(t);
  }, [done]);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Clipboard API unavailable (plain HTTP): fall back to a selection.
      const ta = document.createElement('textarea');
      ta.value = text;
      document.body.appendChild(ta);
      ta.select();
      document.execCommand('copy');
      ta.remove();
    }
    setDone(true);
  };
  return (
    <button type="button" class="copy" onClick={copy} title={`${label}: ${text.length > 80 ? text.slice(0, 80) + '…' : text}`} aria-label={label}>
      {done ? 'Copied' : label}
    </button>
  );
}

export function ErrorBox({ children }: { children: ComponentChildren }) {
  return (
    <div class="error-box" role="alert">
      {children}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <div class="loading" role="status">
      <span class="spinner" aria-hidden="true" /> Loading {what}…
    </div>
  );
}

export function valueText(v: KV['value']): string {
  return typeof v === 'string' ? v : String(v);
}

// KVTable lists attributes, each value with a copy button.
export function KVTable({ items, empty = 'none' }: { items: KV[]; empty?: string }) {
  if (items.length === 0) return <p class="muted small">{empty}</p>;
  return (
    <table class="kv">
      <tbody>
        {items.map((kv, i) => (
          <tr key={i}>
            <th scope="row">{kv.key}</th>
            <td>
              <span class={`kv-value t-${typeof kv.value}`}>{valueText(kv.value)}</span>
              <CopyButton text={valueText(kv.value)} label="Copy" />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

// useAsync runs load whenever deps change and cancels the previous run.
// While a new run is loading, data still holds the previous result (so a
// list can stay on screen) and stale says that it belongs to other deps.
export function useAsync<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]) {
  const key = JSON.stringify(deps);
  const [state, setState] = useState<{ data?: T; error?: string; loading: boolean; key: string }>({ loading: true, key });
  useEffect(() => {
    const ctl = new AbortController();
    setState((s) => ({ data: s.data, loading: true, key: s.key }));
    load(ctl.signal).then(
      (data) => !ctl.signal.aborted && setState({ data, loading: false, key }),
      (e: Error) => !ctl.signal.aborted && setState({ error: e.message, loading: false, key }),
    );
    return () => ctl.abort();
  }, [key]);
  const stale = state.key !== key;
  return { data: state.data, error: stale ? undefined : state.error, loading: state.loading || stale, stale };
}
