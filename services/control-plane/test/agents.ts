import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signRequest } from "@sigilum-gw/shared/http-signatures";
import { initIdentity, loadIdentity, type SigilumIdentity } from "@sigilum-gw/shared/identity";
import type { Json } from "./helpers.ts";

/** The callers' side: Sigilum identities, signed requests and claim bodies as agents and gateways make them. */

const identityHome = mkdtempSync(join(tmpdir(), "cp-test-identities-"));
process.on("exit", () => rmSync(identityHome, { recursive: true, force: true }));

/** A Sigilum identity made and loaded the way an agent or gateway does it. */
export async function makeIdentity(namespace: string): Promise<SigilumIdentity> {
  await initIdentity({ namespace, homeDir: identityHome, force: true });
  return loadIdentity({ namespace, homeDir: identityHome });
}

export interface SignedCall {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
  nonce?: string;
  created?: number;
  /** Raw body text (not JSON-encoded). */
  rawBody?: string;
}

/** A signed request exactly as the SDK sends it; returns status and parsed JSON. */
export async function signedFetch(
  identity: SigilumIdentity,
  url: string,
  call: SignedCall = {},
): Promise<{ status: number; body: Json; headers: Headers }> {
  const method = call.method ?? (call.body !== undefined || call.rawBody !== undefined ? "POST" : "GET");
  const body = call.rawBody ?? (call.body === undefined ? undefined : JSON.stringify(call.body));
  const signed = signRequest(identity, {
    url,
    method,
    headers: body !== undefined ? { "content-type": "application/json" } : {},
    body: body ?? null,
    ...(call.nonce ? { nonce: call.nonce } : {}),
    ...(call.created ? { created: call.created } : {}),
  });
  const res = await fetch(signed.url, {
    method,
    headers: { ...signed.headers, ...call.headers },
    body: signed.body ?? undefined,
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

export function claimBody(agent: SigilumIdentity, service: string, extra: Record<string, unknown> = {}) {
  return {
    namespace: agent.namespace,
    public_key: agent.publicKey,
    service,
    agent_ip: "127.0.0.1",
    nonce: crypto.randomUUID(),
    ...extra,
  };
}

/** The gateway's claim for `agent` to `service`, bound by namespace only, sent with the service's API key. */
export function submitClaim(
  baseUrl: string,
  gateway: SigilumIdentity,
  agent: SigilumIdentity,
  service: string,
  apiKey: string,
  extra: Record<string, unknown> = {},
) {
  return signedFetch(gateway, `${baseUrl}/v1/claims`, {
    body: claimBody(agent, service, extra),
    headers: { authorization: `Bearer ${apiKey}`, "x-sigilum-claim-binding": "namespace-only" },
  });
}

/** A usage event of `agent` for the owner's service, as the gateway posts it (unique event id). */
export function usageEventBody(
  owner: { namespace: string; service: string },
  agent: SigilumIdentity,
  extra: Record<string, unknown> = {},
) {
  return {
    event_id: `ue_${crypto.randomUUID()}`,
    namespace: owner.namespace,
    service: owner.service,
    public_key: agent.publicKey,
    subject: "customer-1",
    protocol: "http",
    action: "proxy",
    outcome: "success",
    response_bytes: 10,
    ...extra,
  };
}
