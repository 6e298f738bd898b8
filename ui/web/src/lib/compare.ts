import type { Span, Trace } from './types';

// DiffNode is one node of two traces' structures merged by path: the
// service/operation names from the root down. Spans at the same path in a
// trace are counted together.
export interface DiffNode {
  service: string;
  operation: string;
  depth: number;
  a: { count: number; total: number };
  b: { count: number; total: number };
  children: DiffNode[];
}

export type DiffKind = 'same' | 'only-a' | 'only-b' | 'changed';

export function diffKind(n: DiffNode): DiffKind {
  if (n.b.count === 0) return 'only-a';
  if (n.a.count === 0) return 'only-b';
  return n.a.count === n.b.count ? 'same' : 'changed';
}

// compareTraces merges the structures of a and b. Nodes come in order of
// first appearance (a's spans first), children under their parents.
export function compareTraces(a: Trace, b: Trace): DiffNode[] {
  const top: DiffNode[] = [];
  const index = new Map<string, DiffNode>();
  const add = (t: Trace, side: 'a' | 'b') => {
    const keyOf = new Map<Span, string>();
    for (const s of t.spans) {
      // t.spans is depth-first, so a parent's key is always known.
      const pk = s.parent ? keyOf.get(s.parent)! : '';
      const key = `${pk}\u0001${s.service}\u0000${s.operation}`;
      keyOf.set(s, key);
      let node = index.get(key);
      if (!node) {
        node = { service: s.service, operation: s.operation, depth: s.depth, a: { count: 0, total: 0 }, b: { count: 0, total: 0 }, children: [] };
        index.set(key, node);
        if (pk === '') top.push(node);
        else index.get(pk)!.children.push(node);
      }
      node[side].count++;
      node[side].total += s.duration;
    }
  };
  add(a, 'a');
  add(b, 'b');
  return top;
}

// flattenDiff lists the nodes depth-first.
export function flattenDiff(nodes: DiffNode[]): DiffNode[] {
  const out: DiffNode[] = [];
  const stack = [...nodes].reverse();
  while (stack.length > 0) {
    const n = stack.pop()!;
    out.push(n);
    for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]);
  }
  return out;
}

export interface DiffTotals {
  same: number;
  onlyA: number;
  onlyB: number;
  changed: number;
}

export function diffTotals(nodes: DiffNode[]): DiffTotals {
  const t: DiffTotals = { same: 0, onlyA: 0, onlyB: 0, changed: 0 };
  for (const n of flattenDiff(nodes)) {
    const k = diffKind(n);
    if (k === 'same') t.same++;
    else if (k === 'only-a') t.onlyA++;
    else if (k === 'only-b') t.onlyB++;
    else t.changed++;
  }
  return t;
}
