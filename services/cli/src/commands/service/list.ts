import { z } from "zod";
import type { CliContext } from "../../context.ts";
import { CliError } from "../../errors.ts";
import { GatewayAdmin } from "../../lib/gateway-admin.ts";
import { explainApiError, openOwnerSession } from "../../lib/owner-session.ts";
import { emit, table, warn } from "../../output.ts";

import { serviceSchema } from "./common.ts";

/** `sigilum service list`: the owner's services, with the gateway connection of each where there is one. */

export async function list(
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
