import * as api from '../lib/api';
import { navigate } from '../router';
import { ErrorBox, Loading, useAsync } from './common';
import { TraceView, type View } from './TraceView';

// TracePage loads a trace by ID and shows it; the selected span and view
// are kept in the URL (?span=&view=) so they can be shared.
export function TracePage({ id, query }: { id: string; query: URLSearchParams }) {
  const res = useAsync((signal) => api.trace(id, signal), [id]);
  if (res.loading) return <Loading what={`trace ${id}`} />;
  if (res.error)
    return (
      <main class="page narrow">
        <ErrorBox>
          Cannot show trace <code>{id}</code>: {res.error}
        </ErrorBox>
      </main>
    );
  const { trace, json } = res.data!;
  const view = (query.get('view') as View) || 'timeline';
  return (
    <TraceView
      key={id}
      trace={trace}
      json={json}
      span={query.get('span')}
      view={['timeline', 'table', 'flame'].includes(view) ? view : 'timeline'}
      onState={(s) => {
        const q = new URLSearchParams();
        if (s.span) q.set('span', s.span);
        if (s.view !== 'timeline') q.set('view', s.view);
        const qs = q.toString();
        navigate(`/trace/${encodeURIComponent(id)}${qs ? `?${qs}` : ''}`, { replace: true });
      }}
    />
  );
}
