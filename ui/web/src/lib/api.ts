import { fromJaeger, type JaegerTrace } from './jaeger';
import type { DepLink } from './graph';
import type { Trace } from './types';

// The Jaeger HTTP API of the Scry server. URLs are relative, so they resolve
// against the page's <base href> (the server's base path).

interface Envelope<T> {
  data: T | null;
  errors: { code?: number; msg: string; traceID?: string }[] | null;
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

async function get<T>(path: string, signal?: AbortSignal): Promise<{ data: T; errors: Envelope<T>['errors']; text: string }> {
  let res: Response;
  try {
    res = await fetch(path, { signal, headers: { Accept: 'application/json' } });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(`cannot reach the Scry server: ${(e as Error).message}`, 0);
  }
  const text = await res.text();
  let body: Envelope<T> | null = null;
  try {
    body = JSON.parse(text) as Envelope<T>;
  } catch {
    // not JSON: reported below
  }
  if (!res.ok || !body) {
    const msg = body?.errors?.[0]?.msg ?? `${res.status} ${res.statusText}`;
    throw new ApiError(msg, res.status);
  }
  return { data: body.data as T, errors: body.errors, text };
}

export async function services(signal?: AbortSignal): Promise<string[]> {
  return (await get<string[]>('api/services', signal)).data ?? [];
}

export interface Operation {
  name: string;
  spanKind: string;
}

export async function operations(service: string, signal?: AbortSignal): Promise<Operation[]> {
  const q = new URLSearchParams({ service });
  const ops = (await get<Operation[]>(`api/operations?${q}`, signal)).data ?? [];
  return ops.sort((a, b) => a.name.localeCompare(b.name) || a.spanKind.localeCompare(b.spanKind));
}

export interface SearchResult {
  traces: Trace[];
  errors: string[];
}

// searchTraces runs /api/traces with the given query (a search, or
// repeated traceID parameters).
export async function searchTraces(q: URLSearchParams, signal?: AbortSignal): Promise<SearchResult> {
  const { data, errors } = await get<JaegerTrace[]>(`api/traces?${q}`, signal);
  return {
    traces: (data ?? []).map(fromJaeger),
    errors: (errors ?? []).map((e) => (e.traceID ? `trace ${e.traceID}: ${e.msg}` : e.msg)),
  };
}

export interface LoadedTrace {
  trace: Trace;
  json: string; // the trace as Jaeger JSON, for download
}

export async function trace(id: string, signal?: AbortSignal): Promise<LoadedTrace> {
  const { data } = await get<JaegerTrace[]>(`api/traces/${encodeURIComponent(id)}`, signal);
  if (!data || data.length === 0) throw new ApiError(`trace ${id} not found`, 404);
  return { trace: fromJaeger(data[0]), json: JSON.stringify({ data: [data[0]] }, null, 2) };
}

export async function dependencies(endTsMs: number, lookbackMs: number, signal?: AbortSignal): Promise<DepLink[]> {
  const q = new URLSearchParams({ endTs: String(Math.round(endTsMs)), lookback: String(Math.round(lookbackMs)) });
  return (await get<DepLink[]>(`api/dependencies?${q}`, signal)).data ?? [];
}

// The Tempo HTTP API of the same server (api/search, api/v2/search/...):
// JSON answers, errors as plain text.

async function getTempo<T>(path: string, signal?: AbortSignal): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, { signal, headers: { Accept: 'application/json' } });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(`cannot reach the Scry server: ${(e as Error).message}`, 0);
  }
  const text = await res.text();
  if (!res.ok) throw new ApiError(text.trim() || `${res.status} ${res.statusText}`, res.status);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(`the server's answer is not JSON: ${text.slice(0, 200)}`, res.status);
  }
}

export interface TempoSpan {
  spanID: string;
  name?: string;
  startTimeUnixNano: string;
  durationNanos: string;
  attributes?: unknown[]; // OTLP KeyValue JSON
}

export interface TempoSpanSet {
  spans: TempoSpan[];
  matched: number;
  attributes?: unknown[];
}

export interface TempoTrace {
  traceID: string;
  rootServiceName: string;
  rootTraceName?: string;
  startTimeUnixNano: string;
  durationMs?: number;
  spanSets?: TempoSpanSet[];
  spanSet?: TempoSpanSet;
  serviceStats?: Record<string, { spanCount: number; errorCount?: number }>;
}

export interface TempoSearch {
  traces: TempoTrace[];
  metrics?: { inspectedTraces?: number; inspectedSpans?: string };
}

// tempoSearch runs a TraceQL search (q, start and end in Unix seconds,
// limit, spss).
export function tempoSearch(q: URLSearchParams, signal?: AbortSignal): Promise<TempoSearch> {
  return getTempo<TempoSearch>(`api/search?${q}`, signal);
}

export interface TempoWindow {
  start: number; // Unix seconds
  end: number;
}

function windowParams(w: TempoWindow, query: string): URLSearchParams {
  const p = new URLSearchParams({ start: String(w.start), end: String(w.end) });
  if (query) p.set('q', query);
  return p;
}

// tempoTags lists attribute names by scope (and the intrinsics), of the
// spans query answers when it is given.
export async function tempoTags(w: TempoWindow, query: string, signal?: AbortSignal): Promise<{ name: string; tags: string[] }[]> {
  const r = await getTempo<{ scopes?: { name: string; tags?: string[] }[] }>(`api/v2/search/tags?${windowParams(w, query)}`, signal);
  return (r.scopes ?? []).map((s) => ({ name: s.name, tags: s.tags ?? [] }));
}

// tempoTagValues lists the typed values of a scoped tag.
export async function tempoTagValues(tag: string, w: TempoWindow, query: string, signal?: AbortSignal): Promise<{ type: string; value: string }[]> {
  const r = await getTempo<{ tagValues?: { type: string; value: string }[] }>(
    `api/v2/search/tag/${encodeURIComponent(tag)}/values?${windowParams(w, query)}`,
    signal,
  );
  return r.tagValues ?? [];
}
