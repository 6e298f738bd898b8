// Layout of the service dependency graph: services in columns by their
// longest call path from a caller-less service, ordered within a column to
// keep edges short (barycenter sweeps), edges left to right. Cycles are cut
// for layering only; their edges are drawn as back edges.

export interface DepLink {
  parent: string;
  child: string;
  callCount: number;
}

export interface GraphNode {
  name: string;
  layer: number;
  order: number;
  x: number;
  y: number;
  calls: number; // calls in and out
}

export interface GraphEdge {
  from: GraphNode;
  to: GraphNode;
  calls: number;
  back: boolean; // drawn right to left (part of a cycle) or a self-call
}

export interface GraphLayout {
  nodes: GraphNode[];
  edges: GraphEdge[];
  width: number;
  height: number;
}

export const NODE_W = 200;
export const NODE_H = 30;
const COL_GAP = 120;
const ROW_GAP = 16;
const PAD = 20;

export function layoutGraph(links: DepLink[]): GraphLayout {
  const names = [...new Set(links.flatMap((l) => [l.parent, l.child]))].sort();
  const out = new Map<string, Set<string>>(names.map((n) => [n, new Set()]));
  const indeg = new Map<string, number>(names.map((n) => [n, 0]));
  for (const l of links) {
    if (l.parent !== l.child && !out.get(l.parent)!.has(l.child)) {
      out.get(l.parent)!.add(l.child);
      indeg.set(l.child, indeg.get(l.child)! + 1);
    }
  }
  // Cut cycles: an iterative DFS from callers first marks back edges.
  const back = new Set<string>();
  const state = new Map<string, number>(); // 1 on stack, 2 done
  const starts = [...names].sort((a, b) => indeg.get(a)! - indeg.get(b)! || a.localeCompare(b));
  for (const s of starts) {
    if (state.has(s)) continue;
    const stack: [string, string[]][] = [[s, [...out.get(s)!].sort()]];
    state.set(s, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const next = top[1].shift();
      if (next === undefined) {
        state.set(top[0], 2);
        stack.pop();
        continue;
      }
      const st = state.get(next);
      if (st === 1) back.add(`${top[0]}\u0000${next}`);
      else if (st === undefined) {
        state.set(next, 1);
        stack.push([next, [...out.get(next)!].sort()]);
      }
    }
  }
  // Longest-path layers over the acyclic edges (Kahn's order).
  const fwd = (a: string) => [...out.get(a)!].filter((b) => !back.has(`${a}\u0000${b}`));
  const deg = new Map<string, number>(names.map((n) => [n, 0]));
  for (const a of names) for (const b of fwd(a)) deg.set(b, deg.get(b)! + 1);
  const layer = new Map<string, number>(names.map((n) => [n, 0]));
  const queue = names.filter((n) => deg.get(n) === 0);
  while (queue.length > 0) {
    const a = queue.shift()!;
    for (const b of fwd(a)) {
      layer.set(b, Math.max(layer.get(b)!, layer.get(a)! + 1));
      deg.set(b, deg.get(b)! - 1);
      if (deg.get(b) === 0) queue.push(b);
    }
  }
  const layers: string[][] = [];
  for (const n of names) (layers[layer.get(n)!] ??= []).push(n);
  // Barycenter sweeps to reduce crossings.
  const neighbours = new Map<string, string[]>(names.map((n) => [n, []]));
  for (const a of names) for (const b of out.get(a)!) {
    neighbours.get(a)!.push(b);
    neighbours.get(b)!.push(a);
  }
  const pos = new Map<string, number>();
  const setPos = () => layers.forEach((l) => l.forEach((n, i) => pos.set(n, i)));
  setPos();
  for (let sweep = 0; sweep < 8; sweep++) {
    const order = sweep % 2 === 0 ? layers.map((_, i) => i) : layers.map((_, i) => layers.length - 1 - i);
    for (const li of order) {
      const ref = sweep % 2 === 0 ? li - 1 : li + 1;
      const bary = new Map<string, number>();
      for (const n of layers[li] ?? []) {
        const ns = neighbours.get(n)!.filter((m) => layer.get(m) === ref);
        bary.set(n, ns.length ? ns.reduce((s, m) => s + pos.get(m)!, 0) / ns.length : pos.get(n)!);
      }
      layers[li]?.sort((a, b) => bary.get(a)! - bary.get(b)! || a.localeCompare(b));
      setPos();
    }
  }
  const tallest = Math.max(1, ...layers.map((l) => l?.length ?? 0));
  const height = PAD * 2 + tallest * (NODE_H + ROW_GAP) - ROW_GAP;
  const nodes = new Map<string, GraphNode>();
  layers.forEach((l, li) => {
    const offset = ((tallest - l.length) * (NODE_H + ROW_GAP)) / 2;
    l.forEach((name, i) => {
      nodes.set(name, { name, layer: li, order: i, x: PAD + li * (NODE_W + COL_GAP), y: PAD + offset + i * (NODE_H + ROW_GAP), calls: 0 });
    });
  });
  const merged = new Map<string, GraphEdge>();
  for (const l of links) {
    const key = `${l.parent}\u0000${l.child}`;
    const e = merged.get(key);
    if (e) e.calls += l.callCount;
    else {
      const from = nodes.get(l.parent)!;
      const to = nodes.get(l.child)!;
      merged.set(key, { from, to, calls: l.callCount, back: l.parent === l.child || back.has(key) || to.layer <= from.layer });
    }
    nodes.get(l.parent)!.calls += l.callCount;
    if (l.parent !== l.child) nodes.get(l.child)!.calls += l.callCount;
  }
  const width = PAD * 2 + Math.max(1, layers.length) * (NODE_W + COL_GAP) - COL_GAP;
  return { nodes: [...nodes.values()], edges: [...merged.values()], width, height };
}

// edgePath is the SVG path of an edge: a curve from the caller's right side to
// the callee's left side, or a loop around for back edges.
export function edgePath(e: GraphEdge): string {
  const { from, to } = e;
  if (from === to) {
    const x = from.x + NODE_W;
    const y = from.y + NODE_H / 2;
    return `M ${x} ${y - 6} C ${x + 40} ${y - 30}, ${x + 40} ${y + 30}, ${x} ${y + 6}`;
  }
  if (!e.back) {
    const x1 = from.x + NODE_W;
    const y1 = from.y + NODE_H / 2;
    const x2 = to.x;
    const y2 = to.y + NODE_H / 2;
    const dx = Math.max(40, (x2 - x1) / 2);
    return `M ${x1} ${y1} C ${x1 + dx} ${y1}, ${x2 - dx} ${y2}, ${x2} ${y2}`;
  }
  const x1 = from.x + NODE_W / 2;
  const y1 = from.y + NODE_H;
  const x2 = to.x + NODE_W / 2;
  const y2 = to.y + NODE_H;
  const dip = Math.max(y1, y2) + 40;
  return `M ${x1} ${y1} C ${x1} ${dip}, ${x2} ${dip}, ${x2} ${y2}`;
}
