// Service colours: a stable colour per service name, the same on every page.
const palette = [
  '#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#edc948', '#ff9da7', '#9c755f',
  '#6b8ff0', '#d37295', '#8cd17d', '#9467bd', '#499894', '#f1ce63', '#a0cbe8', '#bab0ac',
  '#86bcb6', '#d4a6c8', '#fabfd2', '#b6992d',
];

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

export function serviceColor(service: string): string {
  return palette[hash(service) % palette.length];
}

// The error colour (shared with CSS's --error).
export const errorColor = '#d73a49';
