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
