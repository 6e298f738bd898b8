import { buildTrace, type RawSpan } from './trace';
import type { KV, Scalar, Trace } from './types';

// Jaeger UI JSON, as /api/traces returns it (model/jaegerjson.go).
export interface JaegerKV {
  key: string;
  type?: string;
  value: unknown;
}
export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references?: { refType: string; traceID: string; spanID: string }[] | null;
  startTime: number;
  duration: number;
  tags?: JaegerKV[] | null;
  logs?: { timestamp: number; fields?: JaegerKV[] | null }[] | null;
  processID?: string;
  process?: { serviceName: string; tags?: JaegerKV[] | null };
  warnings?: string[] | null;
}
export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes?: Record<string, { serviceName: string; tags?: JaegerKV[] | null }> | null;
  warnings?: string[] | null;
}

// Tags that Scry (like Jaeger) derives from OTLP fields; the span detail
// shows them as kind, status and scope instead of as attributes.
const derived = new Set(['span.kind', 'otel.status_code', 'otel.status_description', 'otel.scope.name', 'otel.scope.version']);

export function scalar(v: unknown): Scalar {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (v === null || v === undefined) return '';
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

const str = (v: unknown): string => (typeof v === 'string' ? v : v == null ? '' : String(scalar(v)));
const kvs = (list: JaegerKV[] | null | undefined): KV[] =>
  Array.isArray(list) ? list.filter((t) => t && typeof t === 'object').map((t) => ({ key: str(t.key), value: scalar(t.value), type: t.type })) : [];

// fromJaeger turns one Jaeger trace into the app's model.
export function fromJaeger(jt: JaegerTrace): Trace {
  const processes = jt.processes ?? {};
  const raw: RawSpan[] = (Array.isArray(jt.spans) ? jt.spans : []).map((js) => {
    const proc = js.process ?? (js.processID ? processes[js.processID] : undefined);
    const allTags = kvs(js.tags);
    const tag = (k: string) => allTags.find((t) => t.key === k)?.value;
    const refs = Array.isArray(js.references) ? js.references : [];
    const parentRef = refs.find((r) => r.refType === 'CHILD_OF') ?? (refs.length > 0 && refs[0].refType !== 'FOLLOWS_FROM' ? refs[0] : undefined);
    const statusCode = str(tag('otel.status_code')).toUpperCase();
    const errTag = tag('error');
    return {
      traceID: str(js.traceID),
      spanID: str(js.spanID),
      parentID: parentRef ? str(parentRef.spanID) : '',
      service: str(proc?.serviceName) || 'unknown',
      operation: str(js.operationName),
      kind: str(tag('span.kind')).toLowerCase(),
      start: Number(js.startTime) || 0,
      duration: Math.max(0, Number(js.duration) || 0),
      tags: allTags.filter((t) => !derived.has(t.key)),
      resource: kvs(proc?.tags),
      events: (Array.isArray(js.logs) ? js.logs : []).map((l) => {
        const fields = kvs(l.fields);
        const ev = fields.find((f) => f.key === 'event');
        return {
          time: Number(l.timestamp) || 0,
          name: ev ? str(ev.value) : '',
          fields: ev ? fields.filter((f) => f !== ev) : fields,
        };
      }),
      links: refs
        .filter((r) => r !== parentRef)
        .map((r) => ({ traceID: str(r.traceID), spanID: str(r.spanID), kind: str(r.refType), attributes: [] })),
      statusCode,
      statusMessage: str(tag('otel.status_description')),
      scopeName: str(tag('otel.scope.name')),
      scopeVersion: str(tag('otel.scope.version')),
      error: statusCode === 'ERROR' || errTag === true || errTag === 'true',
      warnings: Array.isArray(js.warnings) ? js.warnings.map(str) : [],
    };
  });
  const t = buildTrace(raw, str(jt.traceID) || undefined);
  if (Array.isArray(jt.warnings)) t.warnings.push(...jt.warnings.map(str));
  return t;
}
