import { useEffect, useState } from 'preact/hooks';

// A tiny history router. Routes are paths below the server's base path,
// which the page's <base href> gives.

export const basePath = new URL(document.baseURI).pathname.replace(/\/+$/, '');

export interface Route {
  path: string; // "/search", "/trace/abc", ...
  query: URLSearchParams;
}

function current(): Route {
  let p = location.pathname;
  if (basePath && p.startsWith(basePath)) p = p.slice(basePath.length);
  return { path: p === '' ? '/' : p, query: new URLSearchParams(location.search) };
}

const listeners = new Set<() => void>();

// href is the URL of a route path, for links.
export const href = (to: string) => basePath + to;

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  const url = href(to);
  if (url === location.pathname + location.search) return;
  if (opts.replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  listeners.forEach((l) => l());
  if (!opts.replace) window.scrollTo(0, 0);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const update = () => setRoute(current());
    listeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return route;
}

// onLinkClick makes a plain left click on an <a href={href(to)}> navigate in
// place; modified clicks (new tab, ...) keep the browser's behaviour.
export function onLinkClick(to: string) {
  return (e: MouseEvent) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
}
