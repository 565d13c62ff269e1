import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { CliContext } from "../context.ts";
import { CliError } from "../errors.ts";

export interface SecretSources {
  /** The value itself (visible in the process list: prefer the other sources). */
  value?: string;
  /** Name of an environment variable holding it. */
  env?: string;
  /** Path of a file holding it. */
  file?: string;
  /** Read it from standard input. */
  stdin?: boolean;
}

const MAX_SECRET_BYTES = 64 * 1024;

async function readAll(ctx: CliContext): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.stdin) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    size += buffer.length;
    if (size > MAX_SECRET_BYTES) throw new CliError("The secret on standard input is larger than 64 KiB");
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Reads one line from an interactive terminal without echoing it. */
async function promptHidden(ctx: CliContext, label: string): Promise<string> {
  const stdin = process.stdin;
  ctx.stderr.write(`${label}: `);
  return new Promise((resolvePromise, reject) => {
    let value = "";
    const done = (error?: Error) => {
      stdin.setRawMode?.(false);
      stdin.pause();
      stdin.off("data", onData);
      ctx.stderr.write("\n");
      if (error) reject(error);
      else resolvePromise(value);
    };
    const onData = (data: Buffer) => {
      for (const ch of data.toString("utf8")) {
        if (ch === "\r" || ch === "\n") return done();
        if (ch === "\u0003") return done(new CliError("Cancelled"));
        if (ch === "\u007f" || ch === "\b") value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.setRawMode?.(true);
    stdin.resume();
    stdin.on("data", onData);
  });
}

/**
 * Resolves a secret from exactly one source, or prompts for it (without echo) on an interactive terminal.
 * The value is trimmed of surrounding whitespace and line breaks; an empty secret is refused.
 */
export async function readSecret(
  ctx: CliContext,
  sources: SecretSources,
  options: { label: string; flags: string },
): Promise<string> {
  const given = [
    sources.value !== undefined,
    sources.env !== undefined,
    sources.file !== undefined,
    sources.stdin === true,
  ];
  const count = given.filter(Boolean).length;
  if (count > 1)
    throw new CliError("Provide exactly one secret source", { hint: `Use one of: ${options.flags}` });
  let raw: string;
  if (sources.value !== undefined) raw = sources.value;
  else if (sources.env !== undefined) {
    const value = ctx.env[sources.env];
    if (value === undefined) throw new CliError(`Environment variable ${sources.env} is not set`);
    raw = value;
  } else if (sources.file !== undefined) {
    const path = resolve(ctx.cwd, sources.file);
    raw = await readFile(path, "utf8").catch((error: NodeJS.ErrnoException) => {
      throw new CliError(`Cannot read the secret file ${path} (${error.code ?? error.message})`);
    });
  } else if (sources.stdin) raw = await readAll(ctx);
  else if (ctx.interactive) raw = await promptHidden(ctx, options.label);
  else {
    throw new CliError(`No ${options.label.toLowerCase()} given`, {
      hint: `Use one of: ${options.flags} (or run in a terminal to be prompted)`,
    });
  }
  const value = raw.replace(/^[\s]+|[\s]+$/g, "");
  if (value.length === 0) throw new CliError(`The ${options.label.toLowerCase()} is empty`);
  if (/[\r\n\u0000]/.test(value))
    throw new CliError(`The ${options.label.toLowerCase()} must be a single line`);
  return value;
}
