import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { test } from "node:test";

/**
 * The environment is read once, where a process starts: a service's (or the bootstrap scripts') config.ts, parsed
 * with zod, or main.ts, the CLI's context, and the SDK's defaults for agents. Libraries take what they need as parameters, so a test can
 * give them anything without touching process.env, and a variable is validated in one place.
 */

const ROOT = resolve(import.meta.dirname, "../..");
const SCANNED = ["packages/shared/src", "packages/sdk/src", "services", "deploy"];
const ENTRY_POINTS = [
  /^services\/[^/]+\/src\/(?:.+\/)?(?:config|main)\.ts$/,
  /^services\/cli\/src\/context\.ts$/,
  /^packages\/sdk\/src\/environment\.ts$/,
  /^deploy\/bootstrap\/config\.ts$/,
];
const READS_ENV = /\bprocess\s*\.\s*env\b|\bprocess\s*\[\s*["'`]env["'`]\s*\]/;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory())
      return entry.name === "node_modules" || entry.name === "test" ? [] : sourceFiles(path);
    return entry.name.endsWith(".ts") ? [relative(ROOT, path)] : [];
  });
}

const readers = SCANNED.flatMap((dir) => sourceFiles(join(ROOT, dir))).filter((file) =>
  READS_ENV.test(readFileSync(join(ROOT, file), "utf8")),
);

test("only entry points (config.ts, main.ts, the CLI context, the SDK defaults) read process.env", () => {
  const elsewhere = readers.filter((file) => !ENTRY_POINTS.some((re) => re.test(file)));
  assert.deepEqual(elsewhere, [], "read the variable in the service's config.ts and pass the value in");
});

test("the scan sees the entry points that do read it (it can fail)", () => {
  for (const file of [
    "services/cli/src/context.ts",
    "packages/sdk/src/environment.ts",
    "services/verifier/src/main.ts",
  ])
    assert.ok(readers.includes(file), file);
});
