import { formatDuration, formatTime, type TimeZone } from '../lib/format';
import { coveringLookback, likeThis } from '../lib/traceql';
import type { Span, Trace } from '../lib/types';
import { href, onLinkClick } from '../router';
import { CopyButton, KVTable, ServiceDot, valueText } from './common';
import { lookbacks } from './SearchForm';

// likeThisPath is the TraceQL search for spans of s's service and name,
// over the shortest lookback that reaches back to s (a range around it
// when s is older than a week).
export function likeThisPath(s: Span, nowUs: number): string {
  const q = new URLSearchParams({ mode: 'traceql', q: likeThis(s.service, s.operation) });
  const lb = coveringLookback((nowUs - s.start) / 1000, lookbacks.map(([v]) => v));
  if (lb) q.set('lookback', lb);
  else {
    q.set('lookback', 'custom');
    q.set('start', String(Math.floor(s.start - 3600e6)));
    q.set('end', String(Math.ceil(s.start + s.duration + 3600e6)));
  }
  q.set('limit', '20');
  return `/search?${q}`;
}

// spanJSON is a span as plain JSON, for the copy button.
function spanJSON(s: Span): string {
  const { parent: _p, children: _c, ...rest } = s;
  void _p;
  void _c;
  return JSON.stringify(rest, null, 2);
}

export function SpanDetail(props: { trace: Trace; span: Span; tz: TimeZone; onSelect: (id: string) => void; onClose: () => void; fileMode?: boolean }) {
  const { trace, span: s, tz } = props;
  const rel = s.start - trace.start;
  const status = s.statusCode || (s.error ? 'ERROR' : 'UNSET');
  return (
    <aside class="detail" aria-label="Span detail">
      <div class="detail-head">
        <ServiceDot service={s.service} />
        <div class="detail-title">
          <div class="svc">{s.service}</div>
          <h2 class="op">{s.operation}</h2>
        </div>
        <button type="button" class="close" onClick={props.onClose} aria-label="Close span detail" title="Close (Esc)">
          ×
        </button>
      </div>
      <dl class="facts">
        <dt>Duration</dt>
        <dd>
          {formatDuration(s.duration)} <span class="muted">(self {formatDuration(s.selfTime)})</span>
        </dd>
        <dt>Start</dt>
        <dd>
          +{formatDuration(rel)} <span class="muted">· {formatTime(s.start, tz)}</span>
        </dd>
        <dt>Kind</dt>
        <dd>{s.kind || 'unspecified'}</dd>
        <dt>Status</dt>
        <dd class={status === 'ERROR' ? 'status-error' : ''}>
          {status}
          {s.statusMessage && <span class="status-msg">: {s.statusMessage}</span>}
        </dd>
        {(s.scopeName || s.scopeVersion) && (
          <>
            <dt>Scope</dt>
            <dd>
              {s.scopeName} {s.scopeVersion && <span class="muted">{s.scopeVersion}</span>}
            </dd>
          </>
        )}
        <dt>Span ID</dt>
        <dd class="mono">
          {s.spanID} <CopyButton text={s.spanID} label="Copy" />
        </dd>
        <dt>Trace ID</dt>
        <dd class="mono">
          {s.traceID} <CopyButton text={s.traceID} label="Copy" />
        </dd>
        {s.parentID && (
          <>
            <dt>Parent</dt>
            <dd class="mono">
              {s.parent ? (
                <button type="button" class="linkish" onClick={() => props.onSelect(s.parentID)}>
                  {s.parent.operation} <span class="muted">{s.parentID}</span>
                </button>
              ) : (
                <span>
                  {s.parentID} <span class="muted">(not in this trace)</span>
                </span>
              )}
            </dd>
          </>
        )}
      </dl>
      <div class="detail-actions">
        <CopyButton text={spanJSON(s)} label="Copy span as JSON" />
        <FindLikeThis span={s} />
      </div>
      <section>
        <h3>Attributes <span class="count">{s.tags.length}</span></h3>
        <KVTable items={s.tags} empty="no attributes" />
      </section>
      <section>
        <h3>Resource <span class="count">{s.resource.length + 1}</span></h3>
        <KVTable items={[{ key: 'service.name', value: s.service }, ...s.resource]} />
      </section>
      <section>
        <h3>Events <span class="count">{s.events.length}</span></h3>
        {s.events.length === 0 ? (
          <p class="muted small">no events</p>
        ) : (
          <ol class="events">
            {s.events.map((e, i) => (
              <li key={i}>
                <div class="event-head">
                  <span class="event-time">+{formatDuration(e.time - s.start)}</span>
                  <span class="event-name">{e.name || '(unnamed event)'}</span>
                </div>
                {e.fields.length > 0 && <KVTable items={e.fields} />}
              </li>
            ))}
          </ol>
        )}
      </section>
      <section>
        <h3>Links <span class="count">{s.links.length}</span></h3>
        {s.links.length === 0 ? (
          <p class="muted small">no links</p>
        ) : (
          <ul class="links">
            {s.links.map((l, i) => (
              <li key={i}>
                <span class="badge">{l.kind}</span> <LinkTarget trace={trace} link={l} onSelect={props.onSelect} fileMode={props.fileMode} />
                {l.attributes.length > 0 && <KVTable items={l.attributes} />}
              </li>
            ))}
          </ul>
        )}
      </section>
      {s.warnings.length > 0 && (
        <section>
          <h3>Warnings</h3>
          <ul class="warnings">
            {s.warnings.map((w, i) => (
              <li key={i}>{valueText(w)}</li>
            ))}
          </ul>
        </section>
      )}
    </aside>
  );
}

function LinkTarget(props: { trace: Trace; link: Span['links'][number]; onSelect: (id: string) => void; fileMode?: boolean }) {
  const { link } = props;
  const same = props.trace.byID.get(link.spanID);
  if (same && (link.traceID === props.trace.traceID || !link.traceID)) {
    return (
      <button type="button" class="linkish mono" onClick={() => props.onSelect(link.spanID)}>
        {same.operation} <span class="muted">{link.spanID}</span>
      </button>
    );
  }
  const to = `/trace/${link.traceID}?span=${link.spanID}`;
  return (
    <a class="mono" href={href(to)} onClick={onLinkClick(to)} title="Open the linked trace">
      trace {link.traceID.slice(0, 12)}… span {link.spanID}
    </a>
  );
}

function FindLikeThis({ span }: { span: Span }) {
  const to = likeThisPath(span, Date.now() * 1000);
  return (
    <a class="button-link" id="find-like-this" href={href(to)} onClick={onLinkClick(to)} title={`TraceQL: ${likeThis(span.service, span.operation)}`}>
      Find traces like this
    </a>
  );
}
