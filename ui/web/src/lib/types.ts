// The app's trace model: what both Jaeger JSON and OTLP JSON become. Times are
// Unix microseconds (fractions allowed), durations microseconds.

export type Scalar = string | number | boolean;

export interface KV {
  key: string;
  value: Scalar;
  type?: string;
}

export interface SpanEvent {
  time: number;
  name: string;
  fields: KV[];
}

export interface SpanLink {
  traceID: string;
  spanID: string;
  kind: string; // CHILD_OF (not the parent), FOLLOWS_FROM, or "link"
  attributes: KV[];
}

export interface Span {
  traceID: string;
  spanID: string;
  parentID: string; // "" for none
  service: string;
  operation: string;
  kind: string; // "server", "client", ... or ""
  start: number;
  duration: number;
  tags: KV[];
  resource: KV[];
  events: SpanEvent[];
  links: SpanLink[];
  statusCode: string; // "OK", "ERROR" or ""
  statusMessage: string;
  scopeName: string;
  scopeVersion: string;
  error: boolean;
  warnings: string[];
  // Filled in by buildTrace.
  index: number; // position in depth-first order
  depth: number;
  parent: Span | null;
  children: Span[];
  selfTime: number;
  hasChildren: boolean;
}

export interface Trace {
  traceID: string;
  spans: Span[]; // depth-first, children by start time
  roots: Span[];
  byID: Map<string, Span>;
  start: number;
  end: number;
  duration: number;
  services: { name: string; count: number }[];
  depth: number;
  errors: number;
  warnings: string[];
  // The span the trace is named after: the earliest root.
  root: Span;
}
