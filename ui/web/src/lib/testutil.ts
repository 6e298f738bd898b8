import { buildTrace, type RawSpan } from './trace';
import type { Trace } from './types';

// mk makes a raw span for tests: id, parent, service, operation, start and
// duration in µs.
export function mk(id: string, parent: string, start: number, duration: number, service = 'svc', operation = `op-${id}`): RawSpan {
  return {
    traceID: 't1', spanID: id, parentID: parent, service, operation, kind: '', start, duration, tags: [], resource: [],
    events: [], links: [], statusCode: '', statusMessage: '', scopeName: '', scopeVersion: '', error: false, warnings: [],
  };
}

export function tr(...spans: RawSpan[]): Trace {
  return buildTrace(spans);
}
