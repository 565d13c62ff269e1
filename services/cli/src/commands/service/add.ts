import { serviceApiKeyEnvName } from "@sigilum-gw/shared/config";
import type { CliContext } from "../../context.ts";
import { writeSecretFile } from "../../core/files.ts";
import { CliError } from "../../errors.ts";
import { type Connection, GatewayAdmin } from "../../lib/gateway-admin.ts";
import { explainApiError, openOwnerSession } from "../../lib/owner-session.ts";
import { readSecret } from "../../lib/secret-input.ts";
import { emit, keyValues, maskSecret } from "../../output.ts";
import { serviceApiKeyFile } from "../../stack/layout.ts";

import {
  type AuthMode,
  connectionDefaults,
  ensureServiceKey,
  findService,
  keyDir,
  SECRET_FLAGS,
  secretSources,
  serviceSchema,
  slugOf,
  upstreamUrl,
} from "./common.ts";

/** `sigilum service add`: the control plane's service, its API key file and, in gateway mode, the gateway connection. */

export interface AddOptions {
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

export async function add(ctx: CliContext, positional: string | undefined, opts: AddOptions): Promise<void> {
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
