import { useEffect, useState } from 'preact/hooks';
import type { TimeZone } from './lib/format';

// User settings kept in localStorage: theme and time zone.

export type Theme = 'system' | 'light' | 'dark';

export interface Settings {
  theme: Theme;
  tz: TimeZone;
}

function load(): Settings {
  const s: Settings = { theme: 'system', tz: 'local' };
  try {
    const t = localStorage.getItem('scry.theme');
    if (t === 'light' || t === 'dark' || t === 'system') s.theme = t;
    if (localStorage.getItem('scry.tz') === 'utc') s.tz = 'utc';
  } catch {
    // storage unavailable: defaults
  }
  return s;
}

let settings = load();
const listeners = new Set<(s: Settings) => void>();

export function applyTheme(): void {
  const el = document.documentElement;
  if (settings.theme === 'system') delete el.dataset.theme;
  else el.dataset.theme = settings.theme;
}

export function setSettings(patch: Partial<Settings>): void {
  settings = { ...settings, ...patch };
  try {
    localStorage.setItem('scry.theme', settings.theme);
    localStorage.setItem('scry.tz', settings.tz);
  } catch {
    // not kept
  }
  applyTheme();
  listeners.forEach((l) => l(settings));
}

export function useSettings(): Settings {
  const [s, set] = useState(settings);
  useEffect(() => {
    listeners.add(set);
    // A change made between this component's render and now (a user
    // quick to pick a setting) reached no listener of it: catch up.
    set(settings);
    return () => void listeners.delete(set);
  }, []);
  return s;
}
