import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";

/** The repository stands alone: no file reads or links anything outside it. */

const REPO_ROOT = resolve(import.meta.dirname, "..", "..");
const tracked = execFileSync("git", ["ls-files", "-z"], { cwd: REPO_ROOT, encoding: "utf8" })
  .split("\0")
  .filter((path) => path && existsSync(join(REPO_ROOT, path)));
const isText = (path: string) => /\.(ts|mjs|js|json|md|ya?ml|sh)$|(^|\/)(Dockerfile|run)$/.test(path);
const THIS_FILE = relative(REPO_ROOT, import.meta.filename);

test("no tracked file refers to a shared/ folder outside the repository", () => {
  const outside = /\.\.\/(\.\.\/)*shared\/(vectors|spec|DESIGN)|\/work\/shared/;
  const offenders = tracked
    .filter((path) => isText(path) && path !== THIS_FILE && !path.endsWith("package-lock.json"))
    .filter((path) => outside.test(readFileSync(join(REPO_ROOT, path), "utf8")));
  assert.deepEqual(offenders, []);
});

test("every relative link in the docs points at a file inside the repository", () => {
  const broken: string[] = [];
  for (const path of tracked.filter((p) => p.endsWith(".md"))) {
    const text = readFileSync(join(REPO_ROOT, path), "utf8");
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (!target || /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("#")) continue;
      const file = resolve(dirname(join(REPO_ROOT, path)), decodeURIComponent(target.split("#")[0] ?? ""));
      if (!file.startsWith(`${REPO_ROOT}/`) || !existsSync(file)) broken.push(`${path}: ${target}`);
    }
  }
  assert.deepEqual(broken, []);
});
