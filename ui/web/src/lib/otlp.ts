import { fromJaeger } from './jaeger';
import { buildTrace, type RawSpan } from './trace';
import type { KV, Trace } from './types';

// OTLP JSON (the OTLP/HTTP JSON encoding, as /api/v3 returns it and as
// OTel's file exporter writes it): resourceSpans → scopeSpans → spans.

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : v == null ? '' : String(v));

const kinds = ['', 'internal', 'server', 'client', 'producer', 'consumer'];
const kindNames: Record<string, string> = {
  SPAN_KIND_INTERNAL: 'internal', SPAN_KIND_SERVER: 'server', SPAN_KIND_CLIENT: 'client',
  SPAN_KIND_PRODUCER: 'producer', SPAN_KIND_CONSUMER: 'consumer',
};
const statusNames: Record<string, string> = { '1': 'OK', '2': 'ERROR', STATUS_CODE_OK: 'OK', STATUS_CODE_ERROR: 'ERROR' };

// otlpID reads a trace or span ID: hex as the OTLP JSON encoding has it, or
// base64 as protobuf's generic JSON mapping writes bytes.
export function otlpID(v: unknown, bytes: number): string {
  const s = str(v);
  if (/^[0-9a-fA-F]*$/.test(s) && s.length === bytes * 2) return s.toLowerCase();
  if (s.length > 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(s)) {
    try {
      const bin = atob(s);
      if (bin.length === bytes) return [...bin].map((c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join('');
    } catch {
      // not base64 after all
    }
  }
  return s.toLowerCase();
}

// anyValue renders an OTLP AnyValue as a scalar (arrays and maps as JSON).
export function anyValue(v: unknown): { value: string | number | boolean; type: string } {
  if (!isObj(v)) return { value: '', type: 'string' };
  if ('stringValue' in v) return { value: str(v.stringValue), type: 'string' };
  if ('boolValue' in v) return { value: v.boolValue === true || v.boolValue === 'true', type: 'bool' };
  if ('intValue' in v) {
    const n = Number(v.intValue);
    return { value: Number.isSafeInteger(n) ? n : str(v.intValue), type: 'int64' };
  }
  if ('doubleValue' in v) return { value: Number(v.doubleValue), type: 'float64' };
  if ('bytesValue' in v) return { value: str(v.bytesValue), type: 'binary' };
  if ('arrayValue' in v) {
    const vals = arr(isObj(v.arrayValue) ? v.arrayValue.values : undefined).map((x) => anyValue(x).value);
    return { value: JSON.stringify(vals), type: 'string' };
  }
  if ('kvlistValue' in v) {
    const o: Record<string, unknown> = {};
    for (const kv of attrs(isObj(v.kvlistValue) ? v.kvlistValue.values : undefined)) o[kv.key] = kv.value;
    return { value: JSON.stringify(o), type: 'string' };
  }
  return { value: '', type: 'string' };
}

export function attrs(list: unknown): KV[] {
  return arr(list)
    .filter(isObj)
    .map((kv) => ({ key: str(kv.key), ...anyValue(kv.value) }));
}

// nanosToMicros converts an OTLP time (a decimal string or number of ns).
export function nanosToMicros(v: unknown): number {
  const s = str(v);
  if (/^\d+$/.test(s) && s.length > 3) {
    // Split to stay exact past 2^53 ns.
    return Number(s.slice(0, -3)) + Number(s.slice(-3)) / 1000;
  }
  return (Number(s) || 0) / 1000;
}

// fromOTLP turns OTLP JSON into traces, one per trace ID, in order of first
// appearance.
export function fromOTLP(doc: unknown): Trace[] {
  const root = isObj(doc) && isObj(doc.result) ? doc.result : doc;
  const groups = new Map<string, RawSpan[]>();
  for (const rs of arr(isObj(root) ? root.resourceSpans : undefined).filter(isObj)) {
    const resource = attrs(isObj(rs.resource) ? rs.resource.attributes : undefined);
    const svc = resource.find((a) => a.key === 'service.name');
    const service = svc ? String(svc.value) : 'unknown';
    const scopeSpans = arr(rs.scopeSpans ?? rs.instrumentationLibrarySpans).filter(isObj);
    for (const ss of scopeSpans) {
      const scope = isObj(ss.scope) ? ss.scope : isObj(ss.instrumentationLibrary) ? ss.instrumentationLibrary : {};
      for (const sp of arr(ss.spans).filter(isObj)) {
        const traceID = otlpID(sp.traceId, 16);
        const start = nanosToMicros(sp.startTimeUnixNano);
        const end = nanosToMicros(sp.endTimeUnixNano);
        const status = isObj(sp.status) ? sp.status : {};
        const statusCode = statusNames[str(status.code)] ?? '';
        const tags = attrs(sp.attributes);
        const errTag = tags.find((t) => t.key === 'error')?.value;
        const raw: RawSpan = {
          traceID,
          spanID: otlpID(sp.spanId, 8),
          parentID: sp.parentSpanId ? otlpID(sp.parentSpanId, 8) : '',
          service,
          operation: str(sp.name),
          kind: typeof sp.kind === 'number' ? (kinds[sp.kind] ?? '') : (kindNames[str(sp.kind)] ?? ''),
          start,
          duration: Math.max(0, end - start),
          tags,
          resource: resource.filter((a) => a !== svc),
          events: arr(sp.events)
            .filter(isObj)
            .map((e) => ({ time: nanosToMicros(e.timeUnixNano), name: str(e.name), fields: attrs(e.attributes) })),
          links: arr(sp.links)
            .filter(isObj)
            .map((l) => ({ traceID: otlpID(l.traceId, 16), spanID: otlpID(l.spanId, 8), kind: 'link', attributes: attrs(l.attributes) })),
          statusCode,
          statusMessage: str(status.message),
          scopeName: str(scope.name),
          scopeVersion: str(scope.version),
          error: statusCode === 'ERROR' || errTag === true,
          warnings: [],
        };
        const g = groups.get(traceID);
        if (g) g.push(raw);
        else groups.set(traceID, [raw]);
      }
    }
  }
  return [...groups.entries()].map(([id, spans]) => buildTrace(spans, id));
}

// parseTraceFile reads a trace file: OTLP JSON, /api/v3's {"result": ...},
// Jaeger's /api/traces envelope {"data": [...]}, one Jaeger trace, or an
// array of Jaeger traces. It throws an Error saying what it could not read.
export function parseTraceFile(text: string): Trace[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`the file is not JSON: ${(e as Error).message}`);
  }
  let traces: Trace[] = [];
  if (isObj(doc) && (Array.isArray(doc.resourceSpans) || (isObj(doc.result) && Array.isArray(doc.result.resourceSpans)))) {
    traces = fromOTLP(doc);
  } else {
    const list = isObj(doc) && Array.isArray(doc.data) ? doc.data : Array.isArray(doc) ? doc : [doc];
    traces = list.filter((t) => isObj(t) && Array.isArray(t.spans)).map((t) => fromJaeger(t as never));
  }
  traces = traces.filter((t) => t.spans.length > 0);
  if (traces.length === 0) throw new Error('the file holds no spans in OTLP JSON or Jaeger JSON');
  return traces;
}
