import type { CliContext } from "../../context.ts";
import { CliError } from "../../errors.ts";
import { resolveEndpoints } from "../../lib/endpoints.ts";
import { GatewayAdmin } from "../../lib/gateway-admin.ts";
import { readSecret } from "../../lib/secret-input.ts";
import { emit, keyValues } from "../../output.ts";
import { SECRET_FLAGS, secretSources, slugOf } from "./common.ts";

/** `sigilum service secret set`: a new upstream secret version on the gateway connection. */

export interface SecretSetOptions {
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

export async function secretSet(
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
