/**
 * Writes docs/errors.md from the error catalogue. `--check` exits 1 when the file differs (CI: `npm test`).
 * `--file <path>` targets another file (tests).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { renderErrorDocs } from "../src/errors/docs.ts";

const DEFAULT_FILE = fileURLToPath(new URL("../../../docs/errors.md", import.meta.url));

function main(argv: string[]): number {
  const check = argv.includes("--check");
  const fileFlag = argv.indexOf("--file");
  const file = fileFlag === -1 ? DEFAULT_FILE : argv[fileFlag + 1];
  if (file === undefined) {
    console.error("--file needs a path");
    return 2;
  }
  const expected = renderErrorDocs();
  if (!check) {
    writeFileSync(file, expected);
    console.log(`wrote ${file}`);
    return 0;
  }
  let actual: string | undefined;
  try {
    actual = readFileSync(file, "utf8");
  } catch {
    actual = undefined;
  }
  if (actual === expected) return 0;
  console.error(
    `${file} is ${actual === undefined ? "missing" : "out of date with the error catalogue"}: ` +
      "run `npm run docs:errors` and commit the result.",
  );
  return 1;
}

process.exitCode = main(process.argv.slice(2));
