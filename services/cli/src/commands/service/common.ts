import { resolve } from "node:path";
import { NAMESPACE_RE } from "@sigilum-gw/shared/identity";
import type { Command } from "commander";
import { z } from "zod";
import type { CliContext } from "../../context.ts";
import { readTrimmed } from "../../core/files.ts";
import { CliError } from "../../errors.ts";
import { ApiCallError } from "../../lib/http.ts";
import { explainApiError, type OwnerSession } from "../../lib/owner-session.ts";
import type { SecretSources } from "../../lib/secret-input.ts";

/** What the `service` subcommands share: the control plane's service documents, the slug, secret options, the key file. */

export type AuthMode = "bearer" | "header_key" | "query_param";

export const SECRET_FLAGS =
  "--upstream-secret-stdin, --upstream-secret-file <path>, --upstream-secret-env <VAR>, --upstream-secret <value>";

export const serviceSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    slug: z.string(),
    domain: z.string().nullable().optional(),
    description: z.string().nullable().optional(),
    active_key_count: z.number().optional(),
  })
  .loose();
export type Service = z.infer<typeof serviceSchema>;
const keySchema = z
  .object({
    id: z.string(),
    key_prefix: z.string().nullable().optional(),
    created_at: z.string().nullable().optional(),
  })
  .loose();

export function slugOf(positional: string | undefined, flag: string | undefined): string {
  if (positional && flag && positional !== flag)
    throw new CliError("Give the service slug once (argument or --service-slug)");
  const slug = positional ?? flag;
  if (!slug)
    throw new CliError("Missing service slug", { hint: "Usage: sigilum service add <slug> [options]" });
  if (!NAMESPACE_RE.test(slug)) {
    throw new CliError(`Invalid service slug ${JSON.stringify(slug)}`, {
      hint: "3-64 characters of a-z 0-9 -, starting and ending with a letter or digit",
    });
  }
  return slug;
}

export function connectionDefaults(slug: string, mode: AuthMode) {
  return {
    header: mode === "bearer" ? "Authorization" : mode === "query_param" ? "api_key" : `X-${slug}-Key`,
    prefix: mode === "bearer" ? "Bearer " : "",
    secretKey: mode === "bearer" ? "access_token" : mode === "query_param" ? "api_key" : "upstream_key",
  };
}

export function upstreamUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CliError(`Invalid --upstream-base-url ${JSON.stringify(value)}`, {
      hint: "Use an absolute http(s) URL",
    });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new CliError("--upstream-base-url must be http(s)");
  if (url.username || url.password) {
    throw new CliError("--upstream-base-url must not carry credentials", {
      hint: `Give the secret with ${SECRET_FLAGS}`,
    });
  }
  return url;
}

export function secretSources(opts: {
  upstreamSecret?: string;
  upstreamSecretEnv?: string;
  upstreamSecretFile?: string;
  upstreamSecretStdin?: boolean;
}): SecretSources {
  return {
    value: opts.upstreamSecret,
    env: opts.upstreamSecretEnv,
    file: opts.upstreamSecretFile,
    stdin: opts.upstreamSecretStdin,
  };
}

export function withSecretOptions(command: Command): Command {
  return command
    .option("--upstream-secret-stdin", "read the upstream secret from standard input")
    .option("--upstream-secret-file <path>", "read the upstream secret from a file")
    .option("--upstream-secret-env <VAR>", "read the upstream secret from an environment variable")
    .option("--upstream-secret <value>", "the upstream secret itself (visible in the process list)");
}

/** The directory the verifier reads `service-api-key-<id>` from: --key-dir, GATEWAY_SIGILUM_HOME, the local stack's. */
export function keyDir(ctx: CliContext, session: OwnerSession, flag?: string): string {
  if (flag) return resolve(ctx.cwd, flag);
  const configured = ctx.env.GATEWAY_SIGILUM_HOME?.trim();
  return configured ? resolve(ctx.cwd, configured) : session.endpoints.layout.gatewayHome;
}

export async function findService(session: OwnerSession, slug: string): Promise<Service | undefined> {
  const body = await session.api
    .call({ method: "GET", path: "/v1/services" }, "Listing services")
    .catch((e) => explainApiError(e, session));
  const parsed = z.object({ services: z.array(serviceSchema) }).safeParse(body);
  if (!parsed.success) throw new CliError("The control plane answered an unexpected service list");
  return parsed.data.services.find((s) => s.slug === slug);
}

/** Keeps the key file when it still matches an active key of the service, else issues a new key. */
export async function ensureServiceKey(
  session: OwnerSession,
  service: Service,
  path: string,
  keyName: string,
): Promise<{ key: string; created: boolean }> {
  const existing = await readTrimmed(path);
  const listed = await session.api
    .call(
      { method: "GET", path: `/v1/services/${encodeURIComponent(service.id)}/keys?limit=200` },
      "Listing service keys",
    )
    .catch((e) => explainApiError(e, session));
  const keys = z.object({ keys: z.array(keySchema) }).safeParse(listed);
  if (!keys.success) throw new CliError("The control plane answered an unexpected key list");
  if (existing && keys.data.keys.some((k) => k.key_prefix === `...${existing.slice(-4)}`)) {
    return { key: existing, created: false };
  }
  let created: unknown;
  try {
    created = await session.api.call(
      {
        method: "POST",
        path: `/v1/services/${encodeURIComponent(service.id)}/keys`,
        body: { name: keyName },
        accept: [201],
      },
      "Creating a service API key",
    );
  } catch (error) {
    if (error instanceof ApiCallError && error.code === "KEY_LIMIT_REACHED") {
      throw new CliError(error.message, {
        hint:
          `Service "${service.slug}" already has its maximum of active keys and ${path} holds none of them.\n` +
          `Revoke one (DELETE ${session.endpoints.controlPlaneUrl}/v1/services/${service.id}/keys/<key-id>; ` +
          `ids: ${keys.data.keys.map((k) => k.id).join(", ")}), then run this again.`,
      });
    }
    explainApiError(error, session);
  }
  const parsed = z
    .object({ key: z.string().regex(/^sk_live_[0-9a-f]{48}$/) })
    .loose()
    .safeParse(created);
  if (!parsed.success) throw new CliError("The control plane answered an unexpected API key document");
  return { key: parsed.data.key, created: true };
}
