import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, test } from "node:test";

/**
 * No import cycle between folders of one package's src/: a folder is a layer, and two layers that import each
 * other are one tangled layer. Every relative import of every .ts file counts (type-only imports too: they tie
 * the folders' meanings together just the same). Files directly in src/ (entry points, wiring, the package's
 * leaves such as its errors) are not a layer of their own.
 */

const ROOT = resolve(import.meta.dirname, "../..");
const PACKAGES = ["packages/shared", "packages/sdk", "packages/testkit"].concat(
  readdirSync(join(ROOT, "services")).map((name) => `services/${name}`),
);

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  let entries: import("node:fs").Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...tsFiles(path));
    else if (entry.name.endsWith(".ts")) out.push(path);
  }
  return out;
}

const IMPORT_RE = /(?:import|export)\s[^;]*?from\s*"(\.{1,2}\/[^"]+)"|import\(\s*"(\.{1,2}\/[^"]+)"\s*\)/g;

/** folder → the folders it imports, with one example import each (for the failure message). */
export function folderGraph(src: string): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const file of tsFiles(src)) {
    const from = relative(src, dirname(file));
    if (from === "") continue;
    const text = readFileSync(file, "utf8");
    for (const match of text.matchAll(IMPORT_RE)) {
      const target = resolve(dirname(file), (match[1] ?? match[2]) as string);
      if (!target.startsWith(`${src}/`)) continue;
      const to = relative(src, dirname(target));
      if (to === from || to === "") continue;
      const edges = graph.get(from) ?? new Map<string, string>();
      if (!edges.has(to)) edges.set(to, `${relative(ROOT, file)} → ${relative(ROOT, target)}`);
      graph.set(from, edges);
    }
  }
  return graph;
}

/** Strongly connected components with more than one folder (Tarjan). */
export function cycles(graph: Map<string, Map<string, string>>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string) => {
    indices.set(node, index);
    low.set(node, index++);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node)?.keys() ?? []) {
      if (!indices.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node) as number, low.get(next) as number));
      } else if (onStack.has(next))
        low.set(node, Math.min(low.get(node) as number, indices.get(next) as number));
    }
    if (low.get(node) === indices.get(node)) {
      const component: string[] = [];
      let member: string | undefined;
      do {
        member = stack.pop() as string;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!indices.has(node)) visit(node);
  return found;
}

describe("folder import cycles", () => {
  test("the check sees a cycle", () => {
    const graph = new Map([
      ["a", new Map([["b", "a/x.ts → b/y.ts"]])],
      ["b", new Map([["c", "b/y.ts → c/z.ts"]])],
      ["c", new Map([["a", "c/z.ts → a/x.ts"]])],
      ["d", new Map([["a", "d/w.ts → a/x.ts"]])],
    ]);
    assert.deepEqual(cycles(graph), [["a", "b", "c"]]);
  });

  for (const pkg of PACKAGES) {
    test(`${pkg}/src has no cycle between folders`, () => {
      const graph = folderGraph(join(ROOT, pkg, "src"));
      const described = cycles(graph).map((component) =>
        component
          .flatMap((from) =>
            component
              .filter((to) => graph.get(from)?.has(to))
              .map((to) => `  ${from} → ${to} (${graph.get(from)?.get(to)})`),
          )
          .join("\n"),
      );
      assert.deepEqual(described, [], `folders that import each other:\n${described.join("\n\n")}`);
    });
  }
});
