import { rm } from "node:fs/promises";
import { resolve } from "node:path";
import { serviceApiKeyEnvName } from "@sigilum-gw/shared/config";
import { NAMESPACE_RE } from "@sigilum-gw/shared/identity";
import { type Command, Option } from "commander";
import { z } from "zod";
import type { CliContext } from "../context.ts";
import { readTrimmed, writeSecretFile } from "../core/files.ts";
import { CliError } from "../errors.ts";
import { resolveEndpoints } from "../lib/endpoints.ts";
import { type Connection, GatewayAdmin } from "../lib/gateway-admin.ts";
import { ApiCallError } from "../lib/http.ts";
import { explainApiError, type OwnerSession, openOwnerSession } from "../lib/owner-session.ts";
import { readSecret, type SecretSources } from "../lib/secret-input.ts";
import { emit, keyValues, maskSecret, table, warn } from "../output.ts";
import { serviceApiKeyFile } from "../stack/layout.ts";

/**
 * `sigilum service add | list | secret set` (spec §C.4): a service registered in the control plane with its own
 * service API key (written where the verifier's claims feed reads it, spec/gateway.md §4.1) and, in gateway mode,
 * the gateway connection that injects the upstream credential (admin API, spec/gateway.md §5.2).
 */

type AuthMode = "bearer" | "header_key" | "query_param";

export const SECRET_FLAGS =
  "--upstream-secret-stdin, --upstream-secret-file <path>, --upstream-secret-env <VAR>, --upstream-secret <value>";

const serviceSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    slug: z.string(),
    domain: z.string().nullable().optional(),
    description: z.string().nullable().optional(),
    active_key_count: z.number().optional(),
  })
  .loose();
type Service = z.infer<typeof serviceSchema>;
const keySchema = z
  .object({
    id: z.string(),
    key_prefix: z.string().nullable().optional(),
    created_at: z.string().nullable().optional(),
  })
  .loose();

function slugOf(positional: string | undefined, flag: string | undefined): string {
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

function upstreamUrl(value: string): URL {
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
function keyDir(ctx: CliContext, session: OwnerSession, flag?: string): string {
  if (flag) return resolve(ctx.cwd, flag);
  const configured = ctx.env.GATEWAY_SIGILUM_HOME?.trim();
  return configured ? resolve(ctx.cwd, configured) : session.endpoints.layout.gatewayHome;
}

async function findService(session: OwnerSession, slug: string): Promise<Service | undefined> {
  const body = await session.api
    .call({ method: "GET", path: "/v1/services" }, "Listing services")
    .catch((e) => explainApiError(e, session));
  const parsed = z.object({ services: z.array(serviceSchema) }).safeParse(body);
  if (!parsed.success) throw new CliError("The control plane answered an unexpected service list");
  return parsed.data.services.find((s) => s.slug === slug);
}

/** Keeps the key file when it still matches an active key of the service, else issues a new key. */
async function ensureServiceKey(
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

interface AddOptions {
  serviceSlug?: string;
  serviceName?: string;
  description?: string;
  domain?: string;
  namespace?: string;
  mode?: "native" | "gateway";
  upstreamBaseUrl?: string;
  authMode: AuthMode;
  upstreamHeader?: string;
  authPrefix?: string;
  upstreamSecretKey?: string;
  upstreamSecret?: string;
  upstreamSecretEnv?: string;
  upstreamSecretFile?: string;
  upstreamSecretStdin?: boolean;
  force?: boolean;
  revealSecrets?: boolean;
  keyDir?: string;
  apiUrl?: string;
  gatewayAdminUrl?: string;
  token?: string;
  json?: boolean;
}

async function add(ctx: CliContext, positional: string | undefined, opts: AddOptions): Promise<void> {
  const slug = slugOf(positional, opts.serviceSlug);
  const mode = opts.mode ?? (opts.upstreamBaseUrl ? "gateway" : "native");
  if (mode === "gateway" && !opts.upstreamBaseUrl) {
    throw new CliError("Gateway mode needs --upstream-base-url", {
      hint: "The API the gateway forwards to, e.g. https://api.example.com",
    });
  }
  if (mode === "native" && opts.upstreamBaseUrl)
    throw new CliError("--upstream-base-url only applies to --mode gateway");
  const upstream = opts.upstreamBaseUrl ? upstreamUrl(opts.upstreamBaseUrl) : undefined;
  const defaults = connectionDefaults(slug, opts.authMode);
  const session = await openOwnerSession(ctx, {
    namespace: opts.namespace,
    apiUrl: opts.apiUrl,
    token: opts.token,
    adminUrl: opts.gatewayAdminUrl,
  });

  // Everything that can fail without side effects first: the secret, then the gateway's state.
  let admin: GatewayAdmin | undefined;
  let secret: string | undefined;
  if (mode === "gateway") {
    secret = await readSecret(ctx, secretSources(opts), { label: "Upstream secret", flags: SECRET_FLAGS });
    admin = await GatewayAdmin.open(ctx, session.endpoints);
    const existing = await admin.get(slug);
    if (existing && !opts.force) {
      throw new CliError(`The gateway already has a connection "${slug}"`, {
        hint: `Change its secret with \`sigilum service secret set ${slug} --upstream-secret-stdin\`, or recreate it with --force.`,
      });
    }
  }

  let service = await findService(session, slug);
  const serviceCreated = service === undefined;
  if (!service) {
    const body = await session.api
      .call(
        {
          method: "POST",
          path: "/v1/services",
          accept: [201],
          body: {
            name: opts.serviceName ?? slug,
            slug,
            domain: opts.domain ?? upstream?.hostname ?? "localhost",
            description:
              opts.description ??
              (mode === "gateway"
                ? "Local proxy service routed through Sigilum gateway."
                : "Local native Sigilum service."),
          },
        },
        "Registering the service",
      )
      .catch((e) => explainApiError(e, session));
    const parsed = serviceSchema.safeParse(body);
    if (!parsed.success) throw new CliError("The control plane answered an unexpected service document");
    service = parsed.data;
  }

  const keyPath = serviceApiKeyFile(keyDir(ctx, session, opts.keyDir), slug);
  const apiKey = await ensureServiceKey(
    session,
    service,
    keyPath,
    mode === "gateway" ? "Gateway proxy service key (sigilum cli)" : "Native service key (sigilum cli)",
  );
  if (apiKey.created) await writeSecretFile(keyPath, apiKey.key);

  let connection: Connection | undefined;
  if (admin && upstream && secret !== undefined) {
    if (opts.force) await admin.remove(slug);
    const secretKey = opts.upstreamSecretKey ?? defaults.secretKey;
    connection = await admin.create({
      id: slug,
      name: opts.serviceName ?? slug,
      base_url: upstream.toString().replace(/\/+$/, ""),
      auth_mode: opts.authMode,
      auth_header_name: opts.upstreamHeader ?? defaults.header,
      auth_prefix: opts.authPrefix ?? defaults.prefix,
      auth_secret_key: secretKey,
      secrets: { [secretKey]: secret },
    });
  }

  const envName = serviceApiKeyEnvName(slug);
  emit(
    ctx,
    opts.json,
    {
      command: "service add",
      namespace: session.namespace,
      mode,
      service: { id: service.id, slug, name: service.name, created: serviceCreated },
      api_key: {
        file: keyPath,
        created: apiKey.created,
        gateway_env: envName,
        ...(opts.revealSecrets ? { value: apiKey.key } : { masked: maskSecret(apiKey.key) }),
      },
      connection: connection
        ? {
            id: connection.id,
            base_url: connection.base_url,
            auth_mode: connection.auth_mode,
            auth_header_name: connection.auth_header_name,
            auth_prefix: connection.auth_prefix,
            auth_secret_key: connection.auth_secret_key,
          }
        : null,
    },
    () => [
      "Registered service",
      ...keyValues([
        ["namespace", session.namespace],
        ["service", `${slug}${serviceCreated ? "" : " (already registered)"}`],
        ["mode", mode],
        ["API key file", `${keyPath}${apiKey.created ? "" : " (kept)"}`],
        ["gateway env", envName],
        [
          "API key value",
          opts.revealSecrets
            ? apiKey.key
            : `${maskSecret(apiKey.key)} (hidden; use --reveal-secrets to print)`,
        ],
      ]),
      ...(connection
        ? [
            "",
            "Gateway connection configured",
            ...keyValues([
              ["connection id", connection.id],
              ["upstream url", connection.base_url],
              ["auth mode", connection.auth_mode],
              ["auth header", connection.auth_header_name],
              ["auth prefix", JSON.stringify(connection.auth_prefix ?? "")],
              ["secret key", connection.auth_secret_key],
            ]),
            "",
            "Next:",
            `  sigilum request GET /proxy/${slug}/        # the first call asks the namespace owner for approval`,
            "  sigilum approvals list",
          ]
        : []),
    ],
  );
}

async function list(
  ctx: CliContext,
  opts: { namespace?: string; apiUrl?: string; gatewayAdminUrl?: string; token?: string; json?: boolean },
) {
  const session = await openOwnerSession(ctx, {
    namespace: opts.namespace,
    apiUrl: opts.apiUrl,
    token: opts.token,
    adminUrl: opts.gatewayAdminUrl,
  });
  const body = await session.api
    .call({ method: "GET", path: "/v1/services" }, "Listing services")
    .catch((e) => explainApiError(e, session));
  const parsed = z.object({ services: z.array(serviceSchema) }).safeParse(body);
  if (!parsed.success) throw new CliError("The control plane answered an unexpected service list");
  let connectionIds: Set<string> | undefined;
  try {
    const admin = await GatewayAdmin.open(ctx, session.endpoints);
    connectionIds = new Set((await admin.list()).map((c) => c.id));
  } catch (error) {
    warn(ctx, `Could not read the gateway connections (${(error as Error).message}); modes are unknown.`);
  }
  const services = parsed.data.services.map((s) => ({
    service_slug: s.slug,
    service_name: s.name,
    domain: s.domain ?? null,
    description: s.description ?? null,
    active_api_keys: s.active_key_count ?? 0,
    mode: connectionIds ? (connectionIds.has(s.slug) ? "gateway" : "native") : "unknown",
  }));
  emit(ctx, opts.json, { namespace: session.namespace, services }, () =>
    services.length === 0
      ? [`No services registered for namespace "${session.namespace}".`]
      : [
          `Services for namespace "${session.namespace}":`,
          ...table(
            ["SERVICE", "MODE", "API_KEYS", "NAME"],
            services.map((s) => [s.service_slug, s.mode, String(s.active_api_keys), s.service_name]),
          ),
        ],
  );
}

interface SecretSetOptions {
  serviceSlug?: string;
  upstreamSecretKey?: string;
  value?: string;
  upstreamSecret?: string;
  upstreamSecretEnv?: string;
  upstreamSecretFile?: string;
  upstreamSecretStdin?: boolean;
  gatewayAdminUrl?: string;
  json?: boolean;
}

async function secretSet(
  ctx: CliContext,
  positional: string | undefined,
  opts: SecretSetOptions,
): Promise<void> {
  const slug = slugOf(positional, opts.serviceSlug);
  if (opts.value !== undefined && opts.upstreamSecret !== undefined)
    throw new CliError("Give --value or --upstream-secret, not both");
  const secret = await readSecret(
    ctx,
    secretSources({ ...opts, upstreamSecret: opts.value ?? opts.upstreamSecret }),
    {
      label: "Upstream secret",
      flags: `--value <secret>, ${SECRET_FLAGS}`,
    },
  );
  const endpoints = await resolveEndpoints(ctx, { adminUrl: opts.gatewayAdminUrl });
  const admin = await GatewayAdmin.open(ctx, endpoints);
  const connection = await admin.get(slug);
  if (!connection) {
    throw new CliError(`Gateway connection not found: ${slug}`, {
      hint: `Create it with \`sigilum service add ${slug} --upstream-base-url <url> --upstream-secret-stdin\`.`,
    });
  }
  const secretKey = opts.upstreamSecretKey ?? connection.auth_secret_key ?? "access_token";
  const updated = await admin.rotate(slug, { [secretKey]: secret }, "manual-secret-set");
  emit(
    ctx,
    opts.json,
    {
      command: "service secret set",
      connection_id: slug,
      secret_key: secretKey,
      secret_version: updated.secret_version ?? null,
    },
    () => [
      "Gateway connection secret updated",
      ...keyValues([
        ["connection id", slug],
        ["secret key", secretKey],
        ["secret version", updated.secret_version],
      ]),
    ],
  );
}

/**
 * `service remove`: the gateway connection (its secrets with it), the service API key file the verifier reads and
 * the control plane's service (its keys and claims). Each part that is already gone is reported, not an error.
 */
async function remove(
  ctx: CliContext,
  slug: string,
  opts: {
    namespace?: string;
    apiUrl?: string;
    gatewayAdminUrl?: string;
    token?: string;
    keyDir?: string;
    json?: boolean;
  },
): Promise<void> {
  const session = await openOwnerSession(ctx, {
    namespace: opts.namespace,
    apiUrl: opts.apiUrl,
    token: opts.token,
    adminUrl: opts.gatewayAdminUrl,
  });
  const admin = await GatewayAdmin.open(ctx, session.endpoints);
  const hadConnection = (await admin.get(slug)) !== undefined;
  if (hadConnection) await admin.remove(slug);
  const keyPath = serviceApiKeyFile(keyDir(ctx, session, opts.keyDir), slug);
  const hadKeyFile = await rm(keyPath).then(
    () => true,
    () => false,
  );
  const found = await findService(session, slug);
  if (found) {
    await session.api
      .call(
        { method: "DELETE", path: `/v1/services/${encodeURIComponent(found.id)}`, accept: [200, 204, 404] },
        "Deleting the service",
      )
      .catch((e) => explainApiError(e, session));
  }
  if (!hadConnection && !hadKeyFile && !found) {
    throw new CliError(
      `No service "${slug}" here: no gateway connection, key file or control-plane service`,
      {
        code: "NOT_FOUND",
        hint: "List them with: sigilum service list",
      },
    );
  }
  emit(
    ctx,
    opts.json,
    {
      command: "service remove",
      service_slug: slug,
      removed: {
        gateway_connection: hadConnection,
        key_file: hadKeyFile,
        control_plane_service: found !== undefined,
      },
    },
    () => [
      `Service "${slug}" removed`,
      ...keyValues([
        ["gateway connection", hadConnection ? "deleted" : "none"],
        ["key file", hadKeyFile ? `deleted (${keyPath})` : "none"],
        ["control plane", found ? "service, keys and claims deleted" : "none"],
      ]),
    ],
  );
}

export function registerServiceCommands(program: Command, ctx: CliContext): void {
  const service = program.command("service").description("services: register, list, update gateway secrets");

  withSecretOptions(
    service
      .command("add")
      .description(
        "register a service (control plane + service API key) and, in gateway mode, its gateway connection",
      )
      .argument("[slug]", "service slug (also the gateway connection id)")
      .option("--service-slug <slug>", "same as the argument")
      .option("--service-name <name>", "display name (default: the slug)")
      .option("--description <text>", "description")
      .option("--domain <domain>", "domain (default: the upstream host, or localhost)")
      .option("--namespace <namespace>", "owner namespace (default: $SIGILUM_NAMESPACE or the only identity)")
      .addOption(
        new Option(
          "--mode <mode>",
          "native or gateway (default: gateway when --upstream-base-url is given)",
        ).choices(["native", "gateway"]),
      )
      .option("--upstream-base-url <url>", "the API the gateway forwards to")
      .addOption(
        new Option("--auth-mode <mode>", "how the credential is injected")
          .choices(["bearer", "header_key", "query_param"])
          .default("bearer"),
      )
      .option("--upstream-header <name>", "header (or query parameter) name; default by auth mode")
      .option("--auth-prefix <prefix>", 'value prefix (default "Bearer " for bearer)')
      .option("--upstream-secret-key <name>", "name of the secret in the connection (default by auth mode)"),
  )
    .option("--force", "recreate an existing gateway connection")
    .option("--reveal-secrets", "print the service API key")
    .option(
      "--key-dir <path>",
      "where the verifier reads service-api-key-<slug> (default: the local stack's gateway home)",
    )
    .option("--api-url <url>", "control plane URL")
    .option("--gateway-admin-url <url>", "gateway admin API URL")
    .option("--token <jwt>", "namespace-owner token (default: the stored one)")
    .option("--json", "print JSON")
    .action((slug: string | undefined, opts: AddOptions) => add(ctx, slug, opts));

  service
    .command("list")
    .description("list the namespace's services and whether the gateway has a connection for each")
    .option("--namespace <namespace>", "owner namespace")
    .option("--api-url <url>", "control plane URL")
    .option("--gateway-admin-url <url>", "gateway admin API URL")
    .option("--token <jwt>", "namespace-owner token (default: the stored one)")
    .option("--json", "print JSON")
    .action((opts) => list(ctx, opts));

  service
    .command("remove")
    .alias("rm")
    .description("delete a service: its gateway connection, its key file and the control plane's service")
    .argument("<slug>", "service slug (connection id)")
    .option("--namespace <namespace>", "owner namespace")
    .option(
      "--key-dir <path>",
      "where the verifier reads service-api-key-<slug> (default: the local stack's)",
    )
    .option("--api-url <url>", "control plane URL")
    .option("--gateway-admin-url <url>", "gateway admin API URL")
    .option("--token <jwt>", "namespace-owner token (default: the stored one)")
    .option("--json", "print JSON")
    .action((slug: string, opts) => remove(ctx, slug, opts));

  const secret = service.command("secret").description("gateway connection secrets");
  withSecretOptions(
    secret
      .command("set", { isDefault: true })
      .description(
        "replace a gateway connection's upstream secret (read from stdin, a file, a variable or a prompt)",
      )
      .argument("[slug]", "service slug (connection id)")
      .option("--service-slug <slug>", "same as the argument")
      .option(
        "--upstream-secret-key <name>",
        "which secret to set (default: the connection's auth secret key)",
      )
      .option("--value <secret>", "the secret itself (visible in the process list)"),
  )
    .option("--gateway-admin-url <url>", "gateway admin API URL")
    .option("--json", "print JSON")
    .action((slug: string | undefined, opts: SecretSetOptions) => secretSet(ctx, slug, opts));
}
