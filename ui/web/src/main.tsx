import { render } from 'preact';
import './styles.css';
import { href, onLinkClick, useRoute } from './router';
import { applyTheme, setSettings, useSettings } from './settings';
import { ComparePage } from './views/ComparePage';
import { DepsPage } from './views/DepsPage';
import { OpenPage } from './views/OpenPage';
import { SearchPage } from './views/SearchPage';
import { TracePage } from './views/TracePage';

function Nav({ path }: { path: string }) {
  const s = useSettings();
  const item = (to: string, label: string, active: boolean) => (
    <a href={href(to)} onClick={onLinkClick(to)} class={active ? 'active' : ''} aria-current={active ? 'page' : undefined}>
      {label}
    </a>
  );
  return (
    <header class="topbar">
      <a class="brand" href={href('/search')} onClick={onLinkClick('/search')}>
        <span class="logo" aria-hidden="true" />
        Scry
      </a>
      <nav aria-label="Main">
        {item('/search', 'Search', path === '/' || path.startsWith('/search'))}
        {item('/dependencies', 'Dependencies', path.startsWith('/dependencies'))}
        {item('/open', 'Open file', path.startsWith('/open'))}
      </nav>
      <div class="spacer" />
      <label class="setting">
        Time
        <select value={s.tz} onChange={(e) => setSettings({ tz: (e.target as HTMLSelectElement).value as 'local' | 'utc' })}>
          <option value="local">Local</option>
          <option value="utc">UTC</option>
        </select>
      </label>
      <label class="setting">
        Theme
        <select value={s.theme} onChange={(e) => setSettings({ theme: (e.target as HTMLSelectElement).value as 'system' })}>
          <option value="system">System</option>
          <option value="light">Light</option>
          <option value="dark">Dark</option>
        </select>
      </label>
    </header>
  );
}

function Page() {
  const route = useRoute();
  const { path, query } = route;
  let page;
  let m: RegExpMatchArray | null;
  if (path === '/' || path === '/search') page = <SearchPage query={query} />;
  else if ((m = path.match(/^\/trace\/([^/]+)\/?$/))) page = <TracePage id={decodeURIComponent(m[1])} query={query} />;
  else if ((m = path.match(/^\/compare\/([^/]+)\/([^/]+)\/?$/))) page = <ComparePage a={decodeURIComponent(m[1])} b={decodeURIComponent(m[2])} />;
  else if (path === '/dependencies') page = <DepsPage query={query} />;
  else if (path === '/open') page = <OpenPage query={query} />;
  else
    page = (
      <main class="page narrow">
        <h1>Page not found</h1>
        <p>
          There is no page at <code>{path}</code>. <a href={href('/search')} onClick={onLinkClick('/search')}>Search traces</a>.
        </p>
      </main>
    );
  return (
    <>
      <Nav path={path} />
      {page}
    </>
  );
}

applyTheme();
render(<Page />, document.getElementById('app')!);
