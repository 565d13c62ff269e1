import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { signRequest } from "@sigilum-gw/shared/http-signatures";
import { createIdentity, initIdentity, type SigilumIdentity } from "@sigilum-gw/shared/identity";
import { startControlPlane } from "@sigilum-gw/testkit/control-plane";
import { type AgentRequest, envelopeCode, envoyCheck, rawCheck } from "./helpers/envoy-check.ts";
import { deletePrefix, randomPrefix, SERVICE_API_KEY, testEnv, waitFor } from "./helpers/harness.ts";
import { spawnVerifier, type VerifierProcess } from "./helpers/process.ts";

interface Gateway {
  env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * What the verifiers of a suite share: a control plane that approved `agent` for crm, Redis keys under a prefix of
 * their own, and gateway identity `namespace` in a home of its own; `close()` removes all of it.
 */
async function startGateway(
  agent: SigilumIdentity,
  namespace: string,
  overrides: Record<string, string>,
): Promise<Gateway> {
  const prefix = randomPrefix();
  const feed = await startControlPlane({ apiKey: SERVICE_API_KEY });
  feed.approve("crm", agent.namespace, agent.publicKey);
  const home = await mkdtemp(join(tmpdir(), "verifier-home-"));
  await initIdentity({ namespace, homeDir: home });
  return {
    env: testEnv(feed.url, prefix, {
      GATEWAY_SIGILUM_HOME: home,
      GATEWAY_SIGILUM_NAMESPACE: namespace,
      LOG_LEVEL: "info",
      ...overrides,
    }),
    async close() {
      await feed.close();
      await deletePrefix(prefix);
      await rm(home, { recursive: true, force: true });
    },
  };
}

/** Two verifier processes on one Redis: the replay window and the claims snapshot are shared. */
describe("two verifier processes on one Redis", () => {
  let gateway: Gateway;
  let a: VerifierProcess;
  let b: VerifierProcess;
  const agent = createIdentity("replica-agent");

  before(async () => {
    gateway = await startGateway(agent, "gateway-replicas", { GATEWAY_LOG_PROXY_REQUESTS: "true" });
    [a, b] = await Promise.all([spawnVerifier(gateway.env), spawnVerifier(gateway.env)]);
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await gateway?.close();
  });

  const signed = (): AgentRequest => {
    const s = signRequest(agent, { url: "http://127.0.0.1:38100/proxy/crm/contacts", method: "GET" });
    return { method: s.method, url: s.url, headers: s.headers, body: null };
  };

  test("a request accepted by one is rejected as a replay by the other, both ways", async () => {
    const first = signed();
    assert.equal((await envoyCheck(a.port, first)).status, 200);
    const replayed = await envoyCheck(b.port, first);
    assert.equal(replayed.status, 403);
    assert.equal(envelopeCode(replayed), "AUTH_REPLAY_DETECTED");

    const second = signed();
    assert.equal((await envoyCheck(b.port, second)).status, 200);
    assert.equal(envelopeCode(await envoyCheck(a.port, second)), "AUTH_REPLAY_DETECTED");
  });

  test("concurrent copies of one request on both replicas: exactly one allow", async () => {
    const request = signed();
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => envoyCheck(i % 2 ? a.port : b.port, request)),
    );
    assert.equal(responses.filter((r) => r.status === 200).length, 1);
    assert.ok(
      responses.filter((r) => r.status !== 200).every((r) => envelopeCode(r) === "AUTH_REPLAY_DETECTED"),
    );
  });

  test("decision logs are redacted: no namespace, key or full IP in clear", async () => {
    // Decision lines are written in batches, at least every 250 ms.
    await waitFor(() => /"event":"proxy_auth_denied"/.test(a.output() + b.output()), 5000);
    const logs = a.output() + b.output();
    assert.match(logs, /"event":"proxy_identity_resolved"/);
    assert.match(logs, /"event":"proxy_auth_denied"/);
    assert.doesNotMatch(logs, new RegExp(agent.publicKey.replace(/[+/=]/g, "\\$&")));
    assert.doesNotMatch(logs, /"namespace":"replica-agent"/);
    assert.doesNotMatch(logs, /203\.0\.113\.7"/);
    assert.doesNotMatch(logs, /sig1=/);
  });

  test("SIGTERM drains and exits 0", async () => {
    assert.equal(await a.stop("SIGTERM"), 0);
    assert.match(a.output(), /verifier stopped/);
  });
});

describe("VERIFIER_WORKERS=2 (cluster mode)", () => {
  let gateway: Gateway;
  let verifier: VerifierProcess;
  const agent = createIdentity("cluster-agent");

  before(async () => {
    gateway = await startGateway(agent, "gateway-cluster", { VERIFIER_WORKERS: "2" });
    verifier = await spawnVerifier(gateway.env, 20000, 2);
  });
  after(async () => {
    await verifier?.stop();
    await gateway?.close();
  });

  test("workers share the port, the replay window, and /metrics sums every worker", async () => {
    const ports = [...verifier.output().matchAll(/"port":(\d+)[^\n]*verifier listening/g)].map((m) =>
      Number(m[1]),
    );
    assert.equal(ports.length, 2);
    assert.equal(ports[0], ports[1]);
    const requests = Array.from({ length: 40 }, () => {
      const s = signRequest(agent, { url: "http://127.0.0.1:38100/proxy/crm/contacts", method: "GET" });
      return { method: s.method, url: s.url, headers: s.headers, body: null } as AgentRequest;
    });
    // Every request twice, concurrently, over separate connections: exactly one allow each.
    const responses = await Promise.all(
      requests.flatMap((r) => [envoyCheck(verifier.port, r), envoyCheck(verifier.port, r)]),
    );
    const outcomes = JSON.stringify(responses.map((r) => `${r.status} ${envelopeCode(r) ?? ""}`).sort());
    assert.equal(responses.filter((r) => r.status === 200).length, 40, outcomes);
    assert.equal(responses.filter((r) => envelopeCode(r) === "AUTH_REPLAY_DETECTED").length, 40);
    const metrics = await rawCheck(verifier.port, "GET", "/metrics", [["host", "127.0.0.1"]]);
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /sigilum_verifier_decisions_total\{decision="allow"\} 40\n/);
    assert.match(metrics.body, /sigilum_gateway_replay_detected_total 40\n/);
  });

  test("SIGTERM stops every worker and the primary exits 0", async () => {
    assert.equal(await verifier.stop("SIGTERM"), 0);
    assert.equal((verifier.output().match(/verifier stopped/g) ?? []).length, 2);
  });
});
