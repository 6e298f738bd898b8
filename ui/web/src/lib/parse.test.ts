import { describe, expect, it } from 'vitest';
import { fromJaeger } from './jaeger';
import { anyValue, fromOTLP, nanosToMicros, otlpID, parseTraceFile } from './otlp';

const jaegerTrace = {
  traceID: 'abc',
  processes: { p1: { serviceName: 'web', tags: [{ key: 'host.name', type: 'string', value: 'n1' }] } },
  warnings: null,
  spans: [
    {
      traceID: 'abc', spanID: 's1', operationName: 'GET /', references: [], startTime: 1000, duration: 500, processID: 'p1',
      tags: [
        { key: 'span.kind', type: 'string', value: 'server' },
        { key: 'otel.status_code', type: 'string', value: 'ERROR' },
        { key: 'otel.status_description', type: 'string', value: 'boom' },
        { key: 'http.status_code', type: 'int64', value: 500 },
        { key: 'error', type: 'bool', value: true },
      ],
      logs: [{ timestamp: 1100, fields: [{ key: 'event', type: 'string', value: 'retry' }, { key: 'n', type: 'int64', value: 2 }] }],
    },
    {
      traceID: 'abc', spanID: 's2', operationName: 'db', startTime: 1100, duration: 100, processID: 'p1',
      references: [
        { refType: 'CHILD_OF', traceID: 'abc', spanID: 's1' },
        { refType: 'FOLLOWS_FROM', traceID: 'def', spanID: 'x9' },
      ],
      tags: null,
      logs: null,
    },
  ],
};

describe('fromJaeger', () => {
  const t = fromJaeger(jaegerTrace);
  it('builds the tree from CHILD_OF references', () => {
    expect(t.spans.map((s) => [s.spanID, s.depth])).toEqual([['s1', 0], ['s2', 1]]);
  });
  it('reads kind, status, error and events', () => {
    const s = t.byID.get('s1')!;
    expect(s.kind).toBe('server');
    expect(s.statusCode).toBe('ERROR');
    expect(s.statusMessage).toBe('boom');
    expect(s.error).toBe(true);
    expect(s.tags.map((x) => x.key)).toEqual(['http.status_code', 'error']);
    expect(s.events).toEqual([{ time: 1100, name: 'retry', fields: [{ key: 'n', type: 'int64', value: 2 }] }]);
    expect(s.resource).toEqual([{ key: 'host.name', type: 'string', value: 'n1' }]);
  });
  it('keeps other references as links', () => {
    expect(t.byID.get('s2')!.links).toEqual([{ traceID: 'def', spanID: 'x9', kind: 'FOLLOWS_FROM', attributes: [] }]);
  });
  it('renders object values as JSON text, never as objects', () => {
    const t2 = fromJaeger({ traceID: 'a', spans: [{ ...jaegerTrace.spans[1], references: [], tags: [{ key: 'k', value: { '<b>': 1 } }] }] });
    expect(t2.spans[0].tags[0].value).toBe('{"<b>":1}');
  });
});

const otlpDoc = {
  resourceSpans: [
    {
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'api' } }, { key: 'k8s.pod', value: { stringValue: 'p-1' } }] },
      scopeSpans: [
        {
          scope: { name: 'otelhttp', version: '0.1' },
          spans: [
            {
              traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', name: 'GET', kind: 2,
              startTimeUnixNano: '1544712660000000000', endTimeUnixNano: '1544712661000000000',
              attributes: [
                { key: 'n', value: { intValue: '42' } },
                { key: 'arr', value: { arrayValue: { values: [{ stringValue: 'x' }, { boolValue: true }] } } },
              ],
              status: { code: 2, message: 'bad' },
              events: [{ timeUnixNano: '1544712660500000000', name: 'ev', attributes: [] }],
              links: [{ traceId: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', spanId: 'bbbbbbbbbbbbbbbb', attributes: [{ key: 'r', value: { stringValue: 'why' } }] }],
            },
            {
              traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b175', parentSpanId: 'eee19b7ec3c1b174', name: 'child', kind: 'SPAN_KIND_CLIENT',
              startTimeUnixNano: '1544712660100000000', endTimeUnixNano: '1544712660200000000',
            },
          ],
        },
      ],
    },
  ],
};

describe('fromOTLP', () => {
  const [t] = fromOTLP(otlpDoc);
  it('reads spans, times in µs and the tree', () => {
    expect(t.traceID).toBe('5b8efff798038103d269b633813fc60c');
    expect(t.spans.map((s) => s.operation)).toEqual(['GET', 'child']);
    expect(t.duration).toBe(1e6);
    expect(t.spans[1].kind).toBe('client');
  });
  it('reads values, status, scope, resource, events and links', () => {
    const s = t.spans[0];
    expect(s.kind).toBe('server');
    expect(s.tags).toEqual([{ key: 'n', value: 42, type: 'int64' }, { key: 'arr', value: '["x",true]', type: 'string' }]);
    expect(s.error).toBe(true);
    expect(s.statusMessage).toBe('bad');
    expect(s.scopeName).toBe('otelhttp');
    expect(s.service).toBe('api');
    expect(s.resource).toEqual([{ key: 'k8s.pod', value: 'p-1', type: 'string' }]);
    expect(s.events[0].time - s.start).toBe(500000);
    expect(s.links[0].attributes[0].value).toBe('why');
  });
  it('converts IDs and times exactly', () => {
    expect(otlpID('AAECAwQFBgc=', 8)).toBe('0001020304050607');
    expect(nanosToMicros('1544712660000000001')).toBeCloseTo(1544712660000000.001, 3);
    expect(anyValue({ intValue: '9223372036854775807' }).value).toBe('9223372036854775807');
  });
});

describe('parseTraceFile', () => {
  it('reads OTLP, v3 results, Jaeger envelopes, single traces and arrays', () => {
    expect(parseTraceFile(JSON.stringify(otlpDoc))).toHaveLength(1);
    expect(parseTraceFile(JSON.stringify({ result: otlpDoc }))).toHaveLength(1);
    expect(parseTraceFile(JSON.stringify({ data: [jaegerTrace, jaegerTrace] }))).toHaveLength(2);
    expect(parseTraceFile(JSON.stringify(jaegerTrace))).toHaveLength(1);
    expect(parseTraceFile(JSON.stringify([jaegerTrace]))).toHaveLength(1);
  });
  it('says what is wrong with other files', () => {
    expect(() => parseTraceFile('not json')).toThrow(/not JSON/);
    expect(() => parseTraceFile('{"hello": 1}')).toThrow(/no spans/);
  });
});
