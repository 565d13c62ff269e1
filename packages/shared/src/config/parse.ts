import { readFileSync } from "node:fs";
import { z } from "zod";
import { isSecretSchema, REQUIRED_MESSAGE } from "./fields.ts";

export type Env = Readonly<Record<string, string | undefined>>;

export interface ConfigIssue {
  /** The environment variable at fault. */
  variable: string;
  message: string;
}

/** Start-up configuration error. Its message names each variable and what it expects; never a secret value. */
export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(issues.map((i) => i.message).join("; "));
    this.name = "ConfigError";
    this.issues = issues;
  }
}

/**
 * Older names read when the newer one is unset (first non-empty wins), so that error messages can say which
 * variable actually held the bad value.
 */
export const ENV_ALIASES: Readonly<Record<string, readonly string[]>> = {
  SIGILUM_REGISTRY_URL: ["SIGILUM_API_URL"],
  GATEWAY_SIGILUM_NAMESPACE: ["SIGILUM_NAMESPACE"],
  GATEWAY_SIGILUM_HOME: ["SIGILUM_HOME"],
  GATEWAY_SIGNATURE_MAX_AGE_SECONDS: ["SIGILUM_TIMESTAMP_TOLERANCE_SECONDS"],
};

/** Defaults that depend on other variables (HOME, XDG_DATA_HOME). */
const DERIVED_DEFAULTS: Readonly<Record<string, (env: Env) => string | undefined>> = {
  GATEWAY_SIGILUM_HOME: (env) => (env.HOME ? `${env.HOME}/.sigilum` : undefined),
  GATEWAY_DATA_DIR: (env) => {
    if (env.XDG_DATA_HOME) return `${env.XDG_DATA_HOME}/sigilum-gateway`;
    if (env.HOME) return `${env.HOME}/.local/share/sigilum-gateway`;
    return "./gateway-data";
  },
};

/** Names that are secret whatever schema reads them (defence in depth for hand-written schemas). */
const SECRET_NAME_RE = /(KEY|TOKEN|SECRET|PASSWORD|PASSPHRASE|CREDENTIAL)/i;

/**
 * `<NAME>_FILE` (the Docker/Kubernetes secrets convention) supplies `<NAME>` from a file when `<NAME>` itself is
 * unset, so secrets need not sit in the process environment of a container spec.
 */
function readFileVariables(
  names: readonly string[],
  env: Env,
  values: Record<string, string | undefined>,
  source: Map<string, string>,
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  // Only the schema's own variables: other tools' *_FILE variables (SSL_CERT_FILE, ...) are none of our business.
  for (const name of names) {
    const fileVariable = `${name}_FILE`;
    const path = env[fileVariable];
    if (!path || (values[name] !== undefined && values[name] !== "")) continue;
    try {
      values[name] = readFileSync(path, "utf8").trim();
      source.set(name, fileVariable);
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? "unreadable";
      issues.push({
        variable: fileVariable,
        message: `invalid ${fileVariable}: cannot read ${JSON.stringify(path)} (${reason})`,
      });
    }
  }
  return issues;
}

function resolveSources(
  names: readonly string[],
  env: Env,
): {
  values: Record<string, string | undefined>;
  source: Map<string, string>;
  fileIssues: ConfigIssue[];
} {
  const values: Record<string, string | undefined> = { ...env };
  const source = new Map<string, string>();
  const fileIssues = readFileVariables(names, env, values, source);
  for (const [name, aliases] of Object.entries(ENV_ALIASES)) {
    if (values[name] !== undefined && values[name] !== "") continue;
    const alias = aliases.find((a) => env[a] !== undefined && env[a] !== "");
    if (alias) {
      values[name] = env[alias];
      source.set(name, alias);
    }
  }
  for (const [name, derive] of Object.entries(DERIVED_DEFAULTS)) {
    if (values[name] === undefined || values[name] === "") values[name] = derive(env);
  }
  return { values, source, fileIssues };
}

const MAX_ECHO = 80;

/** Quoted form of a (non-secret) value for an error message: userinfo stripped, control chars escaped, capped. */
function echo(value: string): string {
  const noUserinfo = value.replace(/\/\/[^/@\s]*@/g, "//***@");
  const capped = noUserinfo.length > MAX_ECHO ? `${noUserinfo.slice(0, MAX_ECHO)}...` : noUserinfo;
  return JSON.stringify(capped);
}

function fieldSchema(schema: z.ZodType, name: string): z.ZodType | undefined {
  const shape = (schema as { shape?: Record<string, z.ZodType> }).shape;
  return shape?.[name];
}

function describeIssue(
  schema: z.ZodType,
  issue: z.core.$ZodIssue,
  values: Record<string, string | undefined>,
  source: Map<string, string>,
): ConfigIssue {
  const name = String(issue.path[0] ?? "environment");
  const variable = source.get(name) ?? name;
  const readAs = variable === name ? "" : ` (read as ${name})`;
  // Cross-variable rules write a complete sentence that starts with the variable name.
  if (issue.message.startsWith(name) || issue.message.startsWith(variable)) {
    return { variable, message: issue.message };
  }
  if (issue.message === REQUIRED_MESSAGE) return { variable, message: `${variable} is required${readAs}` };
  const raw = values[name];
  const secret = isSecretSchema(fieldSchema(schema, name)) || SECRET_NAME_RE.test(variable);
  const shown = raw === undefined || secret ? "" : ` ${echo(raw)}`;
  return { variable, message: `invalid ${variable} value${shown}${readAs}: ${issue.message}` };
}

export type EnvRule<T> = (config: T, addIssue: (variable: string, message: string) => void) => void;

type Shape = z.core.$ZodLooseShape;

const groupRules = new WeakMap<z.ZodType, EnvRule<never>[]>();

/**
 * A named set of variables with optional cross-variable rules (each reports a full sentence starting with the
 * variable name). parseConfig applies the rules of the schema it is given; composeEnv carries them over.
 */
export function envGroup<S extends Shape>(
  shape: S,
  ...rules: EnvRule<z.output<z.ZodObject<S>>>[]
): z.ZodObject<S> {
  const group = z.object(shape);
  groupRules.set(group, rules as EnvRule<never>[]);
  return group;
}

type MergeShapes<G extends readonly z.ZodObject[]> = G extends readonly [
  infer H extends z.ZodObject,
  ...infer T extends readonly z.ZodObject[],
]
  ? H["shape"] & MergeShapes<T>
  : // biome-ignore lint/complexity/noBannedTypes: the empty shape ends the intersection
    {};

/** Merges groups into one group (itself composable) with every group's cross-variable rules. */
export function composeEnv<const G extends readonly z.ZodObject[]>(...groups: G) {
  const shape = Object.assign({}, ...groups.map((g) => g.shape)) as MergeShapes<G>;
  const group = z.object(shape);
  groupRules.set(
    group,
    groups.flatMap((g) => groupRules.get(g) ?? []),
  );
  return group;
}

/**
 * Parses and validates the environment once, at start-up. Aliases (ENV_ALIASES) and derived defaults are applied
 * first, cross-variable rules last. Throws ConfigError listing every bad variable.
 */
export function parseConfig<S extends z.ZodType>(schema: S, env: Env): z.output<S> {
  const names = Object.keys((schema as { shape?: Record<string, unknown> }).shape ?? {});
  const { values, source, fileIssues } = resolveSources(names, env);
  if (fileIssues.length > 0) throw new ConfigError(fileIssues);
  const result = schema.safeParse(values);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((issue) => describeIssue(schema, issue, values, source)));
  }
  const issues: ConfigIssue[] = [];
  for (const rule of groupRules.get(schema) ?? []) {
    rule(result.data as never, (variable, message) => issues.push({ variable, message }));
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return result.data;
}
