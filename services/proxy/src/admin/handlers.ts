import type { IncomingMessage, ServerResponse } from "node:http";
import { GatewayError } from "@sigilum-gw/shared/errors";
import { catalogInput, normalizeCatalog } from "../catalog/schema.ts";
import type { CatalogStore } from "../catalog/store.ts";
import { readJson, sendJson } from "../http/json.ts";
import { isForbiddenUpstreamUrl } from "../http/upstream-address.ts";
import { buildNewConnection } from "../model/connection/create.ts";
import { toConnectionJson } from "../model/connection/json.ts";
import { applyRotation } from "../model/connection/rotate.ts";
import { normalizeMcpEndpoint } from "../model/connection/rules.ts";
import {
  createConnectionInput,
  rotateConnectionInput,
  updateConnectionInput,
} from "../model/connection/schemas.ts";
import type { ConnectionRecord } from "../model/connection/types.ts";
import { applyConnectionUpdate } from "../model/connection/update.ts";
import { connectionNotFound } from "../model/errors.ts";
import {
  toVariableJson,
  upsertVariableInput,
  validateVariableKey,
  validateVariableValue,
} from "../model/variable.ts";
import { loadConnection } from "../pipeline/resolve.ts";
import type { BackupStore } from "../store/backup.ts";
import type { ConnectionCache } from "../store/cache.ts";
import type { ConnectionStore } from "../store/connections.ts";
import type { PairingKeyStore } from "../store/pairing-key.ts";
import { asStoreError, isRedisUnavailable } from "../store/redis-errors.ts";
import type { VariableStore } from "../store/variables.ts";
import { type AdminMcp, prewarmDiscovery, testMcpConnection } from "./mcp.ts";
import {
  type TestResult,
  testConnectionInput,
  testHttpConnection,
  truncateError,
} from "./test-connection.ts";

/**
 * Admin handlers (spec §1.3-§1.6, §5): each reads its input, calls the store, answers JSON. Secrets are
 * write-only: no handler ever returns or logs one. Every write also drops this replica's cached copy at once
 * (other replicas hear about it on the events channel).
 */

export interface AdminDeps {
  connections: ConnectionStore;
  variables: VariableStore;
  catalog: CatalogStore;
  cache: ConnectionCache;
  /** Opens secret fields sealed to the gateway's key (commands relayed by the pairing bridge). */
  pairingKey: PairingKeyStore;
  maxBodyBytes: number;
  now: () => number;
  /** MCP discovery and clients (discover, MCP connection tests). */
  mcp?: AdminMcp;
  /** Encrypted export and restore of connections and variables. */
  backup: BackupStore;
  /** GATEWAY_ALLOW_LINK_LOCAL_UPSTREAMS: connections may point at link-local and cloud metadata addresses. */
  allowLinkLocalUpstreams: boolean;
}

export interface AdminCall {
  req: IncomingMessage;
  res: ServerResponse;
  requestId: string;
  /** Aborted at the admin route deadline. */
  signal: AbortSignal;
}

const unsealing = (deps: AdminDeps) => ({ unseal: (json: unknown) => deps.pairingKey.unseal(json) });

/** The public half of the gateway's sealing key: what owners seal secret fields to. */
export async function getPairingKey(deps: AdminDeps, call: AdminCall): Promise<void> {
  sendJson(call.res, 200, await deps.pairingKey.publicJson(), call.requestId);
}

/** A store's listing; a Redis outage is the store's error, anything else a 500 naming `what`. */
async function listed<T>(list: () => Promise<T[]>, what: string): Promise<T[]> {
  try {
    return await list();
  } catch (err) {
    throw isRedisUnavailable(err)
      ? asStoreError(err)
      : new GatewayError("INTERNAL_ERROR", `failed to list ${what}`);
  }
}

export async function listConnections(deps: AdminDeps, call: AdminCall): Promise<void> {
  const records = await listed(() => deps.connections.list(), "connections");
  sendJson(call.res, 200, { connections: records.map(toConnectionJson) }, call.requestId);
}

const isAbsolute = (endpoint: string) => /^https?:\/\//i.test(endpoint);

/** The hosts a connection's requests go to: its base URL, and an MCP endpoint given as a full URL. */
const upstreamUrls = (record: ConnectionRecord) => [
  record.base_url,
  ...(isAbsolute(record.mcp_endpoint) ? [record.mcp_endpoint] : []),
];

/** Forwarding's rule (upstream-address.ts), applied before a connection is stored: refused at once, same code. */
async function refuseForbiddenUpstreams(deps: AdminDeps, urls: readonly string[]): Promise<void> {
  if (deps.allowLinkLocalUpstreams) return;
  for (const url of urls) {
    if (await isForbiddenUpstreamUrl(url)) {
      throw new GatewayError(
        "UPSTREAM_ADDRESS_FORBIDDEN",
        `${new URL(url).host} is a link-local or cloud metadata address; point the connection at the provider, or set GATEWAY_ALLOW_LINK_LOCAL_UPSTREAMS=true if this upstream is intended`,
      );
    }
  }
}

export async function createConnection(deps: AdminDeps, call: AdminCall): Promise<void> {
  const input = await readJson(call.req, createConnectionInput, deps.maxBodyBytes, unsealing(deps));
  const { record, secrets } = buildNewConnection(input!, deps.now());
  await refuseForbiddenUpstreams(deps, upstreamUrls(record));
  await deps.connections.create(record, secrets);
  deps.cache.handle({ type: "connection.changed", id: record.id });
  sendJson(call.res, 201, toConnectionJson(record), call.requestId);
  prewarmDiscovery(deps, record);
}

export async function getConnection(deps: AdminDeps, call: AdminCall, id: string): Promise<void> {
  const record = await deps.connections.get(id);
  if (!record) throw connectionNotFound();
  sendJson(call.res, 200, toConnectionJson(record), call.requestId);
}

export async function updateConnection(deps: AdminDeps, call: AdminCall, id: string): Promise<void> {
  const input = await readJson(call.req, updateConnectionInput, deps.maxBodyBytes);
  // Only a full-URL MCP endpoint can move a connection to another host (base_url is fixed at creation).
  const endpoint = normalizeMcpEndpoint(input!.mcp_endpoint ?? "");
  if (isAbsolute(endpoint)) await refuseForbiddenUpstreams(deps, [endpoint]);
  const updated = await deps.connections.update(id, (current) =>
    applyConnectionUpdate(current, input!, deps.now()),
  );
  deps.cache.handle({ type: "connection.changed", id });
  sendJson(call.res, 200, toConnectionJson(updated), call.requestId);
  prewarmDiscovery(deps, updated);
}

export async function deleteConnection(deps: AdminDeps, call: AdminCall, id: string): Promise<void> {
  if (!(await deps.connections.delete(id))) throw connectionNotFound();
  deps.cache.handle({ type: "connection.changed", id });
  call.res.statusCode = 204;
  call.res.setHeader("x-request-id", call.requestId);
  call.res.end();
}

export async function rotateConnection(deps: AdminDeps, call: AdminCall, id: string): Promise<void> {
  const input = await readJson(call.req, rotateConnectionInput, deps.maxBodyBytes, unsealing(deps));
  const rotated = await deps.connections.rotate(id, (current) =>
    applyRotation(current.record, current.secrets, input!, deps.now()),
  );
  deps.cache.handle({ type: "connection.changed", id });
  sendJson(call.res, 200, toConnectionJson(rotated), call.requestId);
}

export async function testConnection(deps: AdminDeps, call: AdminCall, id: string): Promise<void> {
  const input = await readJson(call.req, testConnectionInput, deps.maxBodyBytes, { optional: true });
  let result: TestResult;
  try {
    const { record, secrets } = await loadConnection(deps.cache, id);
    if (record.protocol === "mcp") {
      result = await testMcpConnection(deps, record, secrets);
    } else {
      result = await testHttpConnection(record, secrets, input, call.signal);
    }
  } catch (err) {
    // Any resolve error is a failed test (spec §5.9), answered 502 with the message.
    result = {
      status: "fail",
      http_status: 0,
      error: truncateError(err instanceof Error ? err.message : String(err)),
    };
  }
  const now = deps.now();
  await deps.connections
    .update(id, (current) => ({
      ...current,
      last_tested_at: now,
      last_test_status: result.status,
      last_test_http_status: result.http_status,
      last_test_error: result.error ?? "",
      updated_at: now,
    }))
    .catch(() => {
      // Recording the result is best effort (the reference only logs it); the answer still goes out.
    });
  deps.cache.handle({ type: "connection.changed", id });
  sendJson(
    call.res,
    result.status === "fail" && result.http_status === 0 ? 502 : 200,
    result,
    call.requestId,
  );
}

export async function listVariables(deps: AdminDeps, call: AdminCall): Promise<void> {
  const records = await listed(() => deps.variables.list(), "credential variables");
  sendJson(call.res, 200, { variables: records.map(toVariableJson) }, call.requestId);
}

export async function upsertVariable(deps: AdminDeps, call: AdminCall): Promise<void> {
  const input = await readJson(call.req, upsertVariableInput, deps.maxBodyBytes, unsealing(deps));
  const key = validateVariableKey(input!.key);
  const value = validateVariableValue(input!.value);
  const header = call.req.headers["sigilum-subject"];
  const headerSubject = (typeof header === "string" ? header : "").trim();
  const subject = headerSubject || (input!.created_by_subject ?? "").trim();
  const record = await deps.variables.upsert(key, value, subject, deps.now());
  deps.cache.handle({ type: "variable.changed", id: key });
  sendJson(call.res, 200, toVariableJson(record), call.requestId);
}

export async function deleteVariable(deps: AdminDeps, call: AdminCall, rawKey: string): Promise<void> {
  const key = rawKey.trim();
  if (key === "") throw new GatewayError("INVALID_REQUEST", "variable key is required");
  await deps.variables.delete(key);
  deps.cache.handle({ type: "variable.changed", id: key });
  sendJson(call.res, 200, { deleted: true, key }, call.requestId);
}

export async function getCatalog(deps: AdminDeps, call: AdminCall): Promise<void> {
  let catalog: Awaited<ReturnType<CatalogStore["get"]>>;
  try {
    catalog = await deps.catalog.get();
  } catch (err) {
    throw new GatewayError("INTERNAL_ERROR", `failed to load service catalog: ${(err as Error).message}`);
  }
  sendJson(call.res, 200, catalog, call.requestId);
}

export async function putCatalog(deps: AdminDeps, call: AdminCall): Promise<void> {
  const input = await readJson(call.req, catalogInput, deps.maxBodyBytes);
  const saved = await deps.catalog.put(normalizeCatalog(input!));
  sendJson(call.res, 200, saved, call.requestId);
}
