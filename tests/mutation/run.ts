import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CONDITIONS, type Condition } from "./conditions.ts";

/**
 * `npm run mutation [name-filter]`: flips each security condition of conditions.ts in the working tree, one at a
 * time, runs the tests named to catch it, restores the file, and reports caught/missed. Exit 1 when a named test
 * fails unmutated (the check would prove nothing) or passes mutated (a missed mutation).
 */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const TEST_TIMEOUT_MS = 120_000;

/** Runs one test file restricted to the titles matching `pattern`; true when it passed and ran at least one test. */
function runNamed(file: string, pattern: string): { passed: boolean; ran: number; output: string } {
  const result = spawnSync(
    process.execPath,
    [
      "--test",
      "--test-force-exit",
      `--test-timeout=${TEST_TIMEOUT_MS}`,
      "--test-reporter=tap",
      `--test-name-pattern=${pattern}`,
      file,
    ],
    { cwd: ROOT, encoding: "utf8", timeout: TEST_TIMEOUT_MS * 2 },
  );
  const output = `${result.stdout}${result.stderr}`;
  // Suites count as passing tests in the TAP summary; a title that matches nothing runs 0 tests of its own.
  const ran = [...output.matchAll(/^\s*(?:not )?ok \d+ - (.*)$/gm)].filter((m) =>
    new RegExp(pattern).test(m[1] ?? ""),
  ).length;
  return { passed: result.status === 0, ran, output };
}

/** The source file under mutation goes back to its original text even when the run is interrupted. */
let restoreOnInterrupt: (() => void) | undefined;
process.on("SIGINT", () => {
  restoreOnInterrupt?.();
  process.exit(130);
});

function mutate(condition: Condition): () => void {
  const path = `${ROOT}${condition.file}`;
  const original = readFileSync(path, "utf8");
  const at = original.indexOf(condition.find);
  if (at === -1 || original.indexOf(condition.find, at + 1) !== -1) {
    throw new Error(`${condition.name}: the snippet must occur exactly once in ${condition.file}`);
  }
  const restore = () => writeFileSync(path, original);
  restoreOnInterrupt = restore;
  writeFileSync(path, original.slice(0, at) + condition.replace + original.slice(at + condition.find.length));
  return restore;
}

const filter = process.argv[2];
const chosen = CONDITIONS.filter((c) => !filter || c.name.includes(filter));
const rows: string[] = [];
let failures = 0;
const baseline = new Map<string, boolean>();
for (const condition of chosen) {
  const verdicts: string[] = [];
  for (const [file, pattern] of condition.caughtBy) {
    const key = `${file}\u0000${pattern}`;
    if (!baseline.has(key)) {
      const clean = runNamed(file, pattern);
      baseline.set(key, clean.passed && clean.ran > 0);
      if (!clean.passed || clean.ran === 0) {
        process.stderr.write(
          `baseline failed for ${file} /${pattern}/ (ran ${clean.ran}):\n${clean.output.slice(-3000)}\n`,
        );
      }
    }
  }
  const restore = mutate(condition);
  try {
    for (const [file, pattern] of condition.caughtBy) {
      const cleanOk = baseline.get(`${file}\u0000${pattern}`);
      const mutated = runNamed(file, pattern);
      const verdict = !cleanOk
        ? "BASELINE-RED"
        : mutated.ran === 0
          ? "NO-TEST"
          : mutated.passed
            ? "MISSED"
            : "caught";
      if (verdict !== "caught") failures++;
      verdicts.push(`${verdict.padEnd(8)} ${file} /${pattern}/`);
    }
  } finally {
    restore();
    restoreOnInterrupt = undefined;
  }
  rows.push(`${condition.name}\n${verdicts.map((v) => `    ${v}`).join("\n")}`);
  process.stdout.write(`${rows[rows.length - 1]}\n`);
}
const caught = rows.length - new Set(rows.filter((r) => /MISSED|NO-TEST|BASELINE-RED/.test(r))).size;
process.stdout.write(
  `\n${caught}/${rows.length} conditions caught by every named test (${failures} misses)\n`,
);
process.exitCode = failures === 0 ? 0 : 1;
