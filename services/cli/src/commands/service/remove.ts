import { rm } from "node:fs/promises";
import type { CliContext } from "../../context.ts";
import { CliError } from "../../errors.ts";
import { GatewayAdmin } from "../../lib/gateway-admin.ts";
import { explainApiError, openOwnerSession } from "../../lib/owner-session.ts";
import { emit, keyValues } from "../../output.ts";
import { serviceApiKeyFile } from "../../stack/layout.ts";

import { findService, keyDir } from "./common.ts";

/**
 * `service remove`: the gateway connection (its secrets with it), the service API key file the verifier reads and
 * the control plane's service (its keys and claims). Each part that is already gone is reported, not an error.
 */
export async function remove(
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
