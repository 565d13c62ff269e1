import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { signRequest } from "@sigilum-gw/shared/http-signatures";
import { createIdentity, type SigilumIdentity } from "@sigilum-gw/shared/identity";
import { type ControlPlane, startControlPlane } from "@sigilum-gw/testkit/control-plane";
import { type ServiceProcess, spawnGatewayVerifier } from "./fixtures/processes.ts";
import {
  adminJson,
  captureLogger,
  dumpPrefix,
  inlineGatewayConfig,
  type RawResponse,
  randomPrefix,
  rawRequest,
  useProxy,
  useUpstream,
} from "./helpers.ts";

/**
 * End to end in inline mode, with the real verifier (`node services/verifier/src/main.ts`) as a child process
 * and a real control-plane feed: SDK-signed requests go agent → proxy → verifier (/check) → proxy → upstream.
 */

const SERVICE_KEY = "svc-key-inline-tests";
const SECRETS = {
  bearer: "inline-bearer-SECRET-1",
  header: "inline-header-SECRET-2",
  query: "inline-query-SECRET-3",
};

describe("inline mode with the verifier running", () => {
  const prefix = randomPrefix();
  const agent = createIdentity("agent-inline");
  let controlPlane: ControlPlane;
  let verifier: ServiceProcess;
  const outputs: string[] = [];

  before(async () => {
    controlPlane = await startControlPlane({ apiKey: SERVICE_KEY });
    for (const service of ["bearer-conn", "header-conn", "query-conn"]) {
      controlPlane.approve(service, agent.namespace, agent.publicKey);
    }
    verifier = await spawnGatewayVerifier({
      namespace: "gateway-inline",
      prefix,
      registryUrl: controlPlane.url,
      serviceApiKey: SERVICE_KEY,
      env: { GATEWAY_TRUSTED_PROXY_CIDRS: "127.0.0.1/32" },
    });
  });
  // Hooks run in the order registered: this one before the proxy's, which deletes the shared prefix only once
  // the verifier has stopped writing under it.
  after(async () => {
    await verifier?.stop();
    await controlPlane?.close();
  });
  const upstream = useUpstream();
  const captured = captureLogger();
  const logs = captured.lines;
  const gw = useProxy(() => inlineGatewayConfig(prefix, verifier.port), { logger: captured.logger });

  before(async () => {
    for (const body of [
      { id: "bearer-conn", base_url: upstream.url, auth_secret_key: "t", secrets: { t: SECRETS.bearer } },
      {
        id: "header-conn",
        base_url: upstream.url,
        auth_mode: "header_key",
        auth_header_name: "X-Subscription-Token",
        auth_secret_key: "t",
        secrets: { t: SECRETS.header },
      },
      {
        id: "query-conn",
        base_url: upstream.url,
        auth_mode: "query_param",
        auth_header_name: "key",
        auth_secret_key: "t",
        secrets: { t: SECRETS.query },
      },
    ]) {
      const res = await adminJson(gw.url, "POST", "/api/admin/connections", body);
      assert.equal(res.status, 201, res.text);
      outputs.push(res.text);
    }
  });

  /** Signs with the SDK semantics and sends exactly the signed URL. */
  async function signed(
    identity: SigilumIdentity,
    method: string,
    path: string,
    opts: {
      headers?: Record<string, string>;
      body?: string;
      tamper?: (h: Record<string, string>) => void;
    } = {},
  ): Promise<RawResponse> {
    const request = signRequest(identity, {
      url: `${gw.url}${path}`,
      method,
      headers: opts.headers ?? {},
      body: opts.body ?? null,
    });
    opts.tamper?.(request.headers);
    const url = new URL(request.url);
    const res = await rawRequest(gw.url, url.pathname + url.search, {
      method,
      headers: request.headers,
      body: opts.body,
    });
    outputs.push(res.text, JSON.stringify(res.headers));
    return res;
  }

  test("bearer, header_key and query_param: credential in the right place, no Sigilum header, no agent credential", async () => {
    const bearer = await signed(agent, "GET", "/proxy/bearer-conn/v1/me?verbose=1", {
      headers: { authorization: "Bearer agent-own", "x-trace": "t1" },
    });
    assert.equal(bearer.status, 200, bearer.text);
    const b = bearer.json();
    assert.equal(b.url, "/v1/me?verbose=1");
    assert.equal(b.headers.authorization, `Bearer ${SECRETS.bearer}`);
    assert.equal(b.headers["x-trace"], "t1");

    const header = await signed(agent, "POST", "/proxy/header-conn/search", {
      headers: { "content-type": "application/json", "x-subscription-token": "agent-smuggled" },
      body: '{"q":"sigilum"}',
    });
    assert.equal(header.status, 200, header.text);
    const h = header.json();
    assert.equal(h.headers["x-subscription-token"], SECRETS.header);
    assert.equal(h.headers.authorization, undefined);
    assert.equal(h.body, '{"q":"sigilum"}');

    const query = await signed(agent, "GET", "/proxy/query-conn/items?key=agent&page=2");
    assert.equal(query.status, 200, query.text);
    assert.equal(query.json().url, `/items?page=2&key=${SECRETS.query}`);

    for (const seen of [b, h, query.json()]) {
      for (const name of Object.keys(seen.headers)) {
        assert.ok(
          !name.startsWith("sigilum-") && !name.startsWith("x-sigilum-"),
          `${name} reached the upstream`,
        );
        assert.ok(
          !["signature", "signature-input", "content-digest"].includes(name),
          `${name} reached the upstream`,
        );
      }
    }
  });

  test("verifier denials reach the agent unchanged: unsigned, replay, tampered body, not approved", async () => {
    const before = upstream.requests.length;
    const unsigned = await rawRequest(gw.url, "/proxy/bearer-conn/x");
    assert.equal(unsigned.status, 403);
    assert.equal(unsigned.json().code, "AUTH_SIGNATURE_INVALID");
    assert.equal(unsigned.headers["x-sigilum-code"], "AUTH_SIGNATURE_INVALID");

    const request = signRequest(agent, { url: `${gw.url}/proxy/bearer-conn/once`, method: "GET" });
    const first = await rawRequest(gw.url, "/proxy/bearer-conn/once", { headers: request.headers });
    assert.equal(first.status, 200);
    const replay = await rawRequest(gw.url, "/proxy/bearer-conn/once", { headers: request.headers });
    assert.equal(replay.status, 403);
    assert.equal(replay.json().code, "AUTH_REPLAY_DETECTED");

    const tampered = signRequest(agent, {
      url: `${gw.url}/proxy/bearer-conn/p`,
      method: "POST",
      body: "original",
    });
    const tamperedRes = await rawRequest(gw.url, "/proxy/bearer-conn/p", {
      method: "POST",
      headers: tampered.headers,
      body: "modified",
    });
    assert.equal(tamperedRes.status, 403);

    const stranger = createIdentity("stranger-ns");
    const notApproved = await signed(stranger, "GET", "/proxy/bearer-conn/x");
    assert.equal(notApproved.status, 403);
    assert.equal(notApproved.headers["x-sigilum-code"], "AUTH_CLAIM_REQUIRED");
    assert.match(String(notApproved.headers["content-type"]), /text\/markdown/);
    assert.match(notApproved.text, /AUTH_CLAIM_REQUIRED/);

    const otherPath = signRequest(agent, { url: `${gw.url}/proxy/bearer-conn/a`, method: "GET" });
    const moved = await rawRequest(gw.url, "/proxy/bearer-conn/b", { headers: otherPath.headers });
    assert.equal(moved.status, 403, "a signature for another path is refused");

    assert.equal(upstream.requests.length, before + 1, "only the one valid request reached the upstream");
  });

  test("path traversal with a valid signature is refused by the proxy's own route check, before the verifier or the upstream sees it", async () => {
    /** Every check the verifier answered, whatever its decision (its own traversal refusal included). */
    const verifierDecisions = async () => {
      const text = (await rawRequest(`http://127.0.0.1:${verifier.port}`, "/metrics")).text;
      const counts = [...text.matchAll(/^sigilum_verifier_decisions_total\{[^}]*\} (\d+)$/gm)];
      return counts.reduce((sum, match) => sum + Number(match[1]), 0);
    };
    const counted = await verifierDecisions();
    assert.equal((await signed(agent, "GET", "/proxy/bearer-conn/x")).status, 200);
    const decisionsBefore = await verifierDecisions();
    assert.equal(decisionsBefore, counted + 1, "the verifier counts each check it answers");
    const before = upstream.requests.length;
    for (const path of ["/proxy/bearer-conn/a/%2e%2e/%2e%2e/admin", "/proxy/bearer-conn/..%2F..%2Fetc"]) {
      const request = signRequest(agent, { url: `${gw.url}${path}`, method: "GET" });
      const res = await rawRequest(gw.url, path, { headers: request.headers });
      assert.equal(res.status, 400, path);
      assert.equal(res.json().code, "PATH_TRAVERSAL");
    }
    assert.equal(await verifierDecisions(), decisionsBefore, "the verifier was never asked");
    assert.equal(upstream.requests.length, before, "nothing reached the upstream");
  });

  test("no secret in logs, answers, metrics or Redis (verifier's keys included)", async () => {
    outputs.push((await rawRequest(gw.url, "/metrics")).text);
    outputs.push((await adminJson(gw.url, "GET", "/api/admin/connections")).text);
    await gw.proxy.usage.flush();
    const dump = await dumpPrefix(prefix);
    const answers = outputs.filter((t) => !t.includes('"headers":{"host"')).join("\n");
    for (const secret of Object.values(SECRETS)) {
      assert.ok(!logs.join("\n").includes(secret), "secret in proxy logs");
      assert.ok(!verifier.output().includes(secret), "secret in verifier output");
      assert.ok(!answers.includes(secret), "secret in an answer");
      assert.ok(!dump.includes(secret), "secret in Redis");
    }
  });

  test("verifier down → 503 fail closed (Envoy status_on_error), nothing forwarded", async () => {
    const before = upstream.requests.length;
    await verifier.stop();
    const res = await signed(agent, "GET", "/proxy/bearer-conn/x");
    assert.equal(res.status, 503);
    assert.equal(res.json().code, "SERVICE_UNAVAILABLE");
    assert.equal(upstream.requests.length, before);
  });
});
