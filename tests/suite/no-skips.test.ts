import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { test } from "node:test";

/**
 * A skipped test keeps `npm test` green while proving nothing, so none may skip itself: a test that cannot run on
 * a host fails there. A deliberate skip must be listed in README.md ("Skipped tests") with its reason.
 */

const ROOT = new URL("../../", import.meta.url).pathname;
const SELF = new URL(import.meta.url).pathname;
const SKIP = /\b(?:test|it|describe|t|suite)\.(?:skip|todo)\s*\(|\b(?:skip|todo)\s*:/;

async function testFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await testFiles(path)));
    else if (entry.name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

test("no test file skips a test or leaves one as todo unless README.md lists it with its reason", async () => {
  const readme = await readFile(join(ROOT, "README.md"), "utf8");
  const found: string[] = [];
  for (const root of ["packages", "services", "tests"]) {
    for (const file of await testFiles(join(ROOT, root))) {
      if (file === SELF) continue; // its examples below are strings
      const lines = (await readFile(file, "utf8")).split("\n");
      lines.forEach((line, i) => {
        const where = `${relative(ROOT, file)}:${i + 1}`;
        if (SKIP.test(line) && !readme.includes(relative(ROOT, file))) found.push(`${where}: ${line.trim()}`);
      });
    }
  }
  assert.deepEqual(found, [], "skipped tests not listed in README.md");
});

test("the skip detector sees the forms node:test offers", () => {
  for (const line of [
    'test.skip("x", () => {})',
    'it.todo("x")',
    't.skip("no redis")',
    "{ skip: !external }",
    "{ todo: true }",
  ]) {
    assert.ok(SKIP.test(line), line);
  }
  assert.equal(SKIP.test("skipLibCheck: true"), false);
});
