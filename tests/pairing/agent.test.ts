import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createSigilumClient, initIdentity } from "@sigilum-gw/sdk";
import { type RecordingServer, startRecordingServer } from "@sigilum-gw/testkit/network";
import { type ServiceProcess, serviceMain, spawnService } from "@sigilum-gw/testkit/process";
import {
  call,
  cpUrl,
  type Json,
  ownerToken,
  type PairingStack,
  relay,
  startBridge,
  startPairingStack,
  until,
} from "./stack.ts";

/**
 * The whole point of pairing, with real processes: a connection created by the owner through the relay (secret
 * sealed end to end) serves a real agent's signed request through the verifier and an inline proxy, once the owner
 * approved the agent's claim.
 */

describe("a connection created through the relay", { timeout: 180_000 }, () => {
  let stack: PairingStack;
  let home: string;
  const started: ServiceProcess[] = [];
  let upstream: RecordingServer;

  before(async () => {
    stack = await startPairingStack();
    home = await mkdtemp(join(tmpdir(), "pairing-agent-"));
    upstream = await startRecordingServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"ok":true}');
    });
  });
  after(async () => {
    await Promise.all(started.map((p) => p.stop("SIGKILL")));
    await upstream?.close();
    await stack?.stop();
    await rm(home, { recursive: true, force: true });
  });

  test("serves a signed agent request once the owner approves the claim", async () => {
    const namespace = `agent-${randomBytes(3).toString("hex")}`;
    const slug = `relayed-${randomBytes(3).toString("hex")}`;
    const secret = `sk-agent-${randomBytes(12).toString("hex")}`;
    const cp = cpUrl(stack.controlPlanes[0]!);
    const token = await ownerToken(namespace);
    const service = await call(cp, token, "POST", "/v1/services", {
      name: "Relayed",
      slug,
      domain: "example.com",
      description: "created for the relay test",
    });
    assert.equal(service.status, 201, JSON.stringify(service.body));
    const key = await call(cp, token, "POST", `/v1/services/${service.body.id}/keys`, { name: "gateway" });

    // The gateway host: verifier + inline proxy on the stack's store, and a paired bridge.
    await initIdentity({ namespace, homeDir: join(home, "gateway") });
    const verifier = await spawnService(serviceMain("verifier"), "verifier listening", {
      VERIFIER_ADDR: "127.0.0.1:0",
      REDIS_URL: stack.proxyEnv.REDIS_URL!,
      REDIS_PREFIX: stack.prefix,
      SIGILUM_REGISTRY_URL: cp,
      SIGILUM_SERVICE_API_KEY: key.body.key,
      GATEWAY_SIGILUM_HOME: join(home, "gateway"),
      GATEWAY_SIGILUM_NAMESPACE: namespace,
      GATEWAY_INTERNAL_SECRET: stack.proxyEnv.GATEWAY_INTERNAL_SECRET!,
      VERIFIER_CLAIMS_COLD_START: "true",
    });
    started.push(verifier);
    const gateway = await spawnService(serviceMain("proxy"), "proxy listening", {
      ...stack.proxyEnv,
      AUTHZ_MODE: "inline",
      GATEWAY_ADDR: "127.0.0.1:0",
      VERIFIER_URL: `http://127.0.0.1:${verifier.port}`,
    });
    started.push(gateway);
    const session = (await call(cp, token, "POST", "/v1/gateway/pairing/start", {})).body;
    started.push(await startBridge(stack, session, cpUrl(stack.controlPlanes[1]!)));
    await until("the bridge to connect", 20_000, async () => {
      const s = await call(cp, token, "GET", `/v1/gateway/pairing/status?session_id=${session.session_id}`);
      return s.body.connected && s.body.gateway_public_key ? true : undefined;
    });

    const created = await relay(cp, token, session.session_id, {
      method: "POST",
      path: "/api/admin/connections",
      body: { id: slug, base_url: upstream.url, auth_secret_key: "api_key", secrets: { api_key: secret } },
    });
    assert.equal(created.body.status, 201, created.body.body);

    // The agent: refused and a claim filed, approved by the owner, then through with the credential injected.
    await initIdentity({ namespace, homeDir: join(home, "agent") });
    const agent = await createSigilumClient({ namespace, homeDir: join(home, "agent") });
    const url = `http://127.0.0.1:${gateway.port}/proxy/${slug}/v1/data`;
    const first = await agent.fetch(url);
    assert.equal(first.status, 403, await first.text());
    assert.equal(first.headers.get("x-sigilum-code"), "AUTH_CLAIM_REQUIRED");
    const claim = await until("the pending claim", 20_000, async () => {
      const list = await call(cp, token, "GET", `/v1/namespaces/${namespace}/claims?status=pending`);
      return (list.body.claims as Json[]).find((c) => c.service === slug);
    });
    assert.equal((await call(cp, token, "POST", `/v1/claims/${claim.claim_id}/approve`)).status, 200);
    const answer = await until("the approved request to pass", 20_000, async () => {
      const res = await agent.fetch(url);
      const text = await res.text();
      return res.status === 200 ? text : undefined;
    });
    assert.equal(answer, '{"ok":true}');
    const seen = upstream.requests.at(-1)!;
    assert.equal(seen.url, "/v1/data");
    assert.equal(seen.headers.authorization, `Bearer ${secret}`);
    assert.equal(seen.headers.signature, undefined, "the agent's signature is not forwarded");
  });
});
