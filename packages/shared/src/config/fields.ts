import { isIP } from "node:net";
import { z } from "zod";

/**
 * Field builders for environment variables, with the Sigilum gateway's semantics: an empty string is the same as
 * unset, integers are strict (no whitespace, no decimals), bools accept 1/true/yes/on and 0/false/no/off, enums are
 * case-insensitive. Each builder reports a short "expected ..." message; `parseConfig` adds the variable name and
 * (unless the variable is secret) the offending value.
 */

export const REQUIRED_MESSAGE = "is required";

type Parsed<T> = { ok: true; value: T } | { ok: false; expected: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = <T>(expected: string): Parsed<T> => ({ ok: false, expected });

/** Schemas whose values must never be echoed back (error messages, logs). */
const secretSchemas = new WeakSet<z.ZodType>();

export function isSecretSchema(schema: z.ZodType | undefined): boolean {
  return schema !== undefined && secretSchemas.has(schema);
}

interface Presence<T> {
  default?: T;
  required?: boolean;
}

type FieldOutput<T, O extends Presence<T>> = O extends { default: T }
  ? T
  : O extends { required: true }
    ? T
    : T | undefined;

function envField<T, O extends Presence<T>>(
  parse: (raw: string) => Parsed<T>,
  opts: O,
  blankIsUnset = false,
) {
  return z
    .string()
    .optional()
    .transform((input, ctx): FieldOutput<T, O> => {
      if (input === undefined || input === "" || (blankIsUnset && input.trim() === "")) {
        if (opts.default !== undefined) return opts.default as FieldOutput<T, O>;
        if (opts.required) {
          ctx.addIssue({ code: "custom", message: REQUIRED_MESSAGE });
          return z.NEVER;
        }
        return undefined as FieldOutput<T, O>;
      }
      const result = parse(input);
      if (!result.ok) {
        ctx.addIssue({ code: "custom", message: result.expected });
        return z.NEVER;
      }
      return result.value as FieldOutput<T, O>;
    });
}

const INT_RE = /^-?\d+$/;

export interface IntOptions extends Presence<number> {
  min?: number;
  max?: number;
}

function describeRange(min: number | undefined, max: number | undefined): string {
  if (min !== undefined && max !== undefined) return `an integer between ${min} and ${max}`;
  if (min === 1) return "an integer > 0";
  if (min !== undefined) return `an integer >= ${min}`;
  if (max !== undefined) return `an integer <= ${max}`;
  return "an integer";
}

function parseStrictInt(raw: string, min?: number, max?: number): Parsed<number> {
  const expected = `expected ${describeRange(min, max)}`;
  if (!INT_RE.test(raw)) return bad(expected);
  const value = Number(raw);
  if (!Number.isSafeInteger(value)) return bad(expected);
  if (min !== undefined && value < min) return bad(expected);
  if (max !== undefined && value > max) return bad(expected);
  return ok(value);
}

/** Strict integer: digits only (optional leading minus), no whitespace, no exponent. */
export function envInt<O extends IntOptions>(opts: O = {} as O) {
  return envField<number, O>((raw) => parseStrictInt(raw, opts.min, opts.max), opts);
}

/** A duration in whole seconds (> 0 unless `min` says otherwise). */
export function envSeconds<O extends IntOptions>(opts: O = {} as O) {
  return envInt<O>({ min: 1, ...opts });
}

const TRUE_WORDS = new Set(["1", "true", "yes", "on"]);
const FALSE_WORDS = new Set(["0", "false", "no", "off"]);

export function parseBool(raw: string): boolean | undefined {
  const word = raw.trim().toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  return undefined;
}

export function envBool<O extends Presence<boolean>>(opts: O = {} as O) {
  return envField<boolean, O>((raw) => {
    const value = parseBool(raw);
    return value === undefined ? bad("expected true|false") : ok(value);
  }, opts);
}

/** Case-insensitive, trimmed; the output is the canonical (lower-case) choice. */
export function envEnum<const V extends string, O extends Presence<V>>(
  values: readonly V[],
  opts: O = {} as O,
) {
  const expected = `expected ${values.join("|")}`;
  return envField<V, O>((raw) => {
    const word = raw.trim().toLowerCase();
    const match = values.find((v) => v.toLowerCase() === word);
    return match === undefined ? bad(expected) : ok(match);
  }, opts);
}

export interface StringOptions extends Presence<string> {
  /** Trim the value (default true); a value that is blank after trimming counts as unset. */
  trim?: boolean;
  pattern?: RegExp;
  expected?: string;
  maxLength?: number;
  lowerCase?: boolean;
}

function parseString(raw: string, opts: StringOptions): Parsed<string> {
  const trimmed = opts.trim === false ? raw : raw.trim();
  const value = opts.lowerCase ? trimmed.toLowerCase() : trimmed;
  const expected = `expected ${opts.expected ?? "a string"}`;
  if (opts.maxLength !== undefined && value.length > opts.maxLength) return bad(expected);
  if (opts.pattern && !opts.pattern.test(value)) return bad(expected);
  return ok(value);
}

export function envString<O extends StringOptions>(opts: O = {} as O) {
  return envField<string, O>((raw) => parseString(raw, opts), opts, opts.trim !== false);
}

/** Like envString, but its value never appears in an error message (see parseConfig). */
export function envSecret<O extends StringOptions & { minLength?: number }>(opts: O = {} as O) {
  const schema = envField<string, O>(
    (raw) => {
      const parsed = parseString(raw, opts);
      if (parsed.ok && opts.minLength !== undefined && parsed.value.length < opts.minLength) {
        return bad(`expected at least ${opts.minLength} characters`);
      }
      return parsed;
    },
    opts,
    true,
  );
  secretSchemas.add(schema);
  return schema;
}

/** A JSON document validated by `schema`; unset → `fallback`. */
export function envJson<T>(schema: z.ZodType<T>, fallback: T, expected: string) {
  return envField<T, { default: T }>(
    (raw) => {
      try {
        const parsed = schema.safeParse(JSON.parse(raw));
        return parsed.success ? ok(parsed.data) : bad(`expected ${expected}`);
      } catch {
        return bad(`expected ${expected}`);
      }
    },
    { default: fallback },
  );
}

export interface CsvOptions {
  default?: readonly string[];
  /** Validates and normalizes one item; return undefined to reject it. */
  item?: (item: string) => string | undefined;
  expected?: string;
}

/** Comma-separated list: items trimmed, empty items dropped. Unset → `default` (or []). */
export function envCsv(opts: CsvOptions = {}) {
  const fallback = [...(opts.default ?? [])];
  return envField<string[], { default: string[] }>(
    (raw) => {
      const items = raw
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "");
      if (!opts.item) return ok(items);
      const out: string[] = [];
      for (const item of items) {
        const normalized = opts.item(item);
        if (normalized === undefined) {
          return bad(
            `expected ${opts.expected ?? "a comma-separated list"} (bad entry ${JSON.stringify(item)})`,
          );
        }
        out.push(normalized);
      }
      return ok(out);
    },
    { default: fallback },
  );
}

export interface UrlOptions extends Presence<string> {
  protocols: readonly string[];
  /** Reject a path other than "/" (and any query or fragment). */
  originOnly?: boolean;
}

function parseUrl(raw: string, opts: UrlOptions): Parsed<string> {
  const schemes = opts.protocols.map((p) => `${p}://`).join(" or ");
  const expected = opts.originOnly
    ? `expected a ${schemes} URL with no path, query or fragment`
    : `expected a ${schemes} URL`;
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return bad(expected);
  }
  if (!opts.protocols.includes(url.protocol.slice(0, -1)) || url.host === "") return bad(expected);
  if (opts.originOnly && (url.pathname !== "/" || url.search !== "" || url.hash !== "")) return bad(expected);
  return ok(opts.originOnly ? url.origin : raw.trim().replace(/\/+$/, ""));
}

/** An absolute URL with one of the given schemes; a trailing "/" is trimmed. */
export function envUrl<O extends UrlOptions>(opts: O) {
  return envField<string, O>((raw) => parseUrl(raw, opts), opts);
}

/** Redis/Postgres URLs may carry a password: never echo them back. */
export function envSecretUrl<O extends UrlOptions>(opts: O) {
  const schema = envUrl(opts);
  secretSchemas.add(schema);
  return schema;
}

export interface ListenAddress {
  /** undefined = every interface (Node picks `::` or `0.0.0.0`). */
  host: string | undefined;
  port: number;
}

const HOSTNAME_RE = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?$/;

/** Accepts ":38100", "38100", "127.0.0.1:38100", "localhost:38100" and "[::1]:38100". Port 0 = any free port. */
export function parseListenAddress(text: string): ListenAddress | undefined {
  const raw = text.trim();
  let host: string;
  let portText: string;
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(raw);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2]!;
    if (isIP(host) !== 6) return undefined;
  } else {
    const colon = raw.lastIndexOf(":");
    host = colon === -1 ? "" : raw.slice(0, colon);
    portText = colon === -1 ? raw : raw.slice(colon + 1);
    if (host !== "" && isIP(host) !== 4 && !HOSTNAME_RE.test(host)) return undefined;
  }
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port > 65535) return undefined;
  return { host: host === "" ? undefined : host, port };
}

export function formatListenAddress(addr: ListenAddress): string {
  if (addr.host === undefined) return `:${addr.port}`;
  return isIP(addr.host) === 6 ? `[${addr.host}]:${addr.port}` : `${addr.host}:${addr.port}`;
}

export function envListenAddress(defaultAddr: string) {
  const fallback = parseListenAddress(defaultAddr);
  if (!fallback) throw new Error(`invalid default listen address ${JSON.stringify(defaultAddr)}`);
  return envField<ListenAddress, { default: ListenAddress }>(
    (raw) => {
      const addr = parseListenAddress(raw);
      return addr
        ? ok(addr)
        : bad('expected a listen address like ":38100", "127.0.0.1:38100" or "[::1]:38100"');
    },
    { default: fallback },
  );
}

/** Normalizes "10.0.0.1" to "10.0.0.1/32", "::1" to "::1/128"; undefined when not a CIDR or IP. */
export function normalizeCidr(entry: string): string | undefined {
  const [address, prefixText, ...rest] = entry.trim().split("/");
  if (address === undefined || rest.length > 0) return undefined;
  const family = isIP(address);
  if (family === 0) return undefined;
  const maxPrefix = family === 4 ? 32 : 128;
  if (prefixText === undefined) return `${address}/${maxPrefix}`;
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > maxPrefix) return undefined;
  return `${address}/${Number(prefixText)}`;
}
