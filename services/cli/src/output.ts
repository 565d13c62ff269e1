import type { CliContext } from "./context.ts";
import type { CliError } from "./errors.ts";

/** Output conventions: data on stdout (human text, or one JSON document with --json), everything else on stderr. */

export function printJson(ctx: CliContext, value: unknown): void {
  ctx.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printLines(ctx: CliContext, lines: string[]): void {
  if (lines.length > 0) ctx.stdout.write(`${lines.join("\n")}\n`);
}

/** Prints `value` as JSON when asked to, else the human lines. */
export function emit(
  ctx: CliContext,
  json: boolean | undefined,
  value: unknown,
  human: () => string[],
): void {
  if (json) printJson(ctx, value);
  else printLines(ctx, human());
}

const useColor = (ctx: CliContext) =>
  (ctx.stderr as { isTTY?: boolean }).isTTY === true && !ctx.env.NO_COLOR && ctx.env.TERM !== "dumb";

function paint(ctx: CliContext, code: string, text: string): string {
  return useColor(ctx) ? `\u001b[${code}m${text}\u001b[0m` : text;
}

/** Progress and notes for people; on stderr so `--json` output stays one parseable document. */
export function note(ctx: CliContext, message: string): void {
  ctx.stderr.write(`${paint(ctx, "36", "[i]")} ${message}\n`);
}

export function success(ctx: CliContext, message: string): void {
  ctx.stderr.write(`${paint(ctx, "32", "[ok]")} ${message}\n`);
}

export function warn(ctx: CliContext, message: string): void {
  ctx.stderr.write(`${paint(ctx, "33", "[warn]")} ${message}\n`);
}

/** `--json`: the error as one JSON document on stdout (`{error, code, hint?}`), so scripts parse failures too. */
export function printJsonError(ctx: CliContext, error: Pick<CliError, "message" | "hint" | "code">): void {
  printJson(ctx, { error: error.message, code: error.code, ...(error.hint ? { hint: error.hint } : {}) });
}

export function printError(ctx: CliContext, error: Pick<CliError, "message" | "hint">): void {
  ctx.stderr.write(`${paint(ctx, "31", "error:")} ${error.message}\n`);
  if (error.hint) {
    for (const line of error.hint.split("\n")) ctx.stderr.write(`  ${line}\n`);
  }
}

/** `  key:                 value` rows, as the reference CLI prints them. */
export function keyValues(
  rows: [string, string | number | boolean | null | undefined][],
  width = 20,
): string[] {
  return rows.map(([key, value]) => `  ${`${key}:`.padEnd(width)} ${value ?? ""}`.trimEnd());
}

/** A left-aligned text table; the last column is not padded. */
export function table(headers: string[], rows: string[][]): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)];
}

/** `abcd...wxyz`, or `****` for short values: enough to recognise a key, never enough to use it. */
export function maskSecret(value: string): string {
  return value.length <= 8 ? "****" : `${value.slice(0, 4)}...${value.slice(-4)}`;
}
