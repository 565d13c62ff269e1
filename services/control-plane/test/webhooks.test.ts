import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type RecordingServer, startRecordingServer } from "@sigilum-gw/testkit/network";
import pg from "pg";
import { claimBody, makeIdentity, signedFetch } from "./agents.ts";
import {
  type Json,
  rand,
  setupService,
  type TestControlPlane,
  useTestControlPlane,
  waitFor,
} from "./helpers.ts";

/**
 * Webhooks with real PostgreSQL, Redis (bullmq) and loopback subscribers: routes, signed deliveries for every
 * claim event, retries with growing delays, the dead-letter list, SSRF refusals and secrets sealed at rest.
 */

const SECRET = "whsec-0123456789abcdef-test";

/** The subscriber's check: both signatures match and the timestamp is fresh. */
function verify(headers: Record<string, string | string[] | undefined>, body: string): boolean {
  const hmac = (text: string) => `sha256=${createHmac("sha256", SECRET).update(text).digest("hex")}`;
  const ts = Number(headers["x-sigilum-timestamp"]);
  return (
    headers["x-sigilum-signature"] === hmac(body) &&
    headers["x-sigilum-signature-v2"] === hmac(`${ts}.${body}`) &&
    Math.abs(Date.now() / 1000 - ts) < 300
  );
}

async function submitClaim(t: TestControlPlane, ns: string, slug: string, apiKey: string): Promise<string> {
  const gateway = await makeIdentity(ns);
  const agent = await makeIdentity(ns);
  const submit = await signedFetch(gateway, `${t.url}/v1/claims`, {
    body: claimBody(agent, slug, { subject: "customer-1" }),
    headers: { authorization: `Bearer ${apiKey}`, "x-sigilum-claim-binding": "namespace-only" },
  });
  assert.equal(submit.status, 201, JSON.stringify(submit.body));
  return submit.body.claim_id;
}

async function tableText(url: string, sql: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return JSON.stringify((await client.query(sql)).rows);
  } finally {
    await client.end();
  }
}

describe("webhooks (loopback targets allowed by config)", () => {
  const t = useTestControlPlane({
    redis: true,
    freshDatabase: true,
    env: {
      WEBHOOK_ALLOW_PRIVATE_TARGETS: "true",
      WEBHOOK_RETRY_DELAYS_SECONDS: "1,2",
      WEBHOOK_RETRY_WINDOW_SECONDS: "6",
    },
  });

  test("every claim event reaches a subscriber, signed; the secret rests sealed and is never returned", async () => {
    const received: { headers: Json; body: string }[] = [];
    const hook: RecordingServer = await startRecordingServer((req, res, body) => {
      received.push({ headers: req.headers, body: body.toString() });
      res.writeHead(204).end();
    });
    try {
      const ns = `wh-${rand(3)}`;
      const slug = `svc-${rand(3)}`;
      const { token, apiKey, serviceId } = await setupService(t, ns, slug);
      const created = await t.owner(token, "POST", `/v1/services/${serviceId}/webhooks`, {
        url: `${hook.url}/events`,
        events: [
          "request.submitted",
          "request.approved",
          "request.rejected",
          "request.revoked",
          "request.expired",
        ],
        secret: SECRET,
        auth_header: "X-Receiver-Key",
        auth_value: "receiver-key-value",
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.match(created.body.id, /^wh_[0-9a-f]{16}$/);
      assert.equal(created.body.active, true);

      const first = await submitClaim(t, ns, slug, apiKey);
      assert.equal((await t.owner(token, "POST", `/v1/claims/${first}/approve`)).status, 200);
      assert.equal((await t.owner(token, "POST", `/v1/claims/${first}/revoke`)).status, 200);
      const second = await submitClaim(t, ns, slug, apiKey);
      assert.equal((await t.owner(token, "POST", `/v1/claims/${second}/reject`)).status, 200);
      const third = await submitClaim(t, ns, slug, apiKey);
      await new pg.Client({ connectionString: t.databaseUrl }).connect().then(async (c) => {
        await c.query(
          "UPDATE authorizations SET created_at = now() - interval '48 hours' WHERE claim_id = $1",
          [third],
        );
        await c.end();
      });
      await t.cp.sweeper.runOnce();

      const events = await waitFor(() => (received.length >= 7 ? received : undefined), 15_000);
      const names = events.map((e) => `${JSON.parse(e.body).event}:${JSON.parse(e.body).data.claim_id}`);
      for (const expected of [
        `request.submitted:${first}`,
        `request.approved:${first}`,
        `request.revoked:${first}`,
        `request.submitted:${second}`,
        `request.rejected:${second}`,
        `request.submitted:${third}`,
        `request.expired:${third}`,
      ]) {
        assert.ok(names.includes(expected), `${expected} in ${names}`);
      }
      for (const e of events) {
        assert.ok(verify(e.headers, e.body), "signature and timestamp verify");
        assert.equal(e.headers["x-sigilum-webhook-id"], created.body.id);
        assert.equal(e.headers["x-receiver-key"], "receiver-key-value");
        assert.equal(e.headers["x-sigilum-event"], JSON.parse(e.body).event);
        const data = JSON.parse(e.body).data;
        assert.deepEqual(Object.keys(data).slice(0, 5), [
          "claim_id",
          "namespace",
          "service",
          "public_key",
          "agent_ip",
        ]);
        assert.equal(data.service, slug);
      }

      const list = await t.owner(token, "GET", `/v1/services/${serviceId}/webhooks`);
      assert.equal(list.status, 200);
      assert.equal(list.body.webhooks.length, 1);
      assert.equal(list.body.webhooks[0].failure_count, 0);
      assert.ok(list.body.webhooks[0].last_triggered_at);
      assert.ok(
        !JSON.stringify(list.body).includes(SECRET) && !JSON.stringify(list.body).includes("receiver-key"),
      );
      const rows = await tableText(t.databaseUrl!, "SELECT * FROM webhooks");
      assert.ok(!rows.includes(SECRET) && !rows.includes("receiver-key-value"), "sealed at rest");
      assert.match(rows, /"secret_sealed":"enc:v1:/);

      const deleted = await t.owner(token, "DELETE", `/v1/services/${serviceId}/webhooks/${created.body.id}`);
      assert.deepEqual(deleted.body, { success: true, deleted: true, webhook_id: created.body.id });
      assert.equal(
        (await t.owner(token, "DELETE", `/v1/services/${serviceId}/webhooks/${created.body.id}`)).status,
        404,
      );
    } finally {
      await hook.close();
    }
  });

  test("a failing subscriber is retried with growing delays; past the window the delivery is dead-lettered", async () => {
    const attempts: number[] = [];
    let failures = 2;
    const flaky = await startRecordingServer((_req, res) => {
      attempts.push(Date.now());
      res.writeHead(failures-- > 0 ? 503 : 200).end();
    });
    const down = await startRecordingServer((_req, res) => res.writeHead(500).end());
    try {
      const ns = `retry-${rand(3)}`;
      const slug = `svc-${rand(3)}`;
      const { token, apiKey } = await setupService(t, ns, slug);
      const svc = await t.owner(token, "POST", "/v1/services", {
        name: "Other",
        slug: `other-${rand(3)}`,
        domain: "example.com",
        description: "dead letters",
        webhook: { url: down.url, secret: SECRET },
      });
      assert.equal(svc.status, 201, JSON.stringify(svc.body));
      assert.deepEqual(svc.body.webhook.events, [
        "request.submitted",
        "request.approved",
        "request.revoked",
        "request.rejected",
      ]);
      const services = await t.owner(token, "GET", "/v1/services");
      const flakyService = services.body.services.find((s: Json) => s.slug === slug).id;
      await t.owner(token, "POST", `/v1/services/${flakyService}/webhooks`, {
        url: flaky.url,
        events: ["request.submitted"],
        secret: SECRET,
      });
      await submitClaim(t, ns, slug, apiKey);
      await waitFor(() => (attempts.length >= 3 ? true : undefined), 15_000);
      const gaps = [attempts[1]! - attempts[0]!, attempts[2]! - attempts[1]!];
      assert.ok(gaps[0]! >= 900 && gaps[1]! >= 1900, `delays 1 s then 2 s: ${gaps}`);
      assert.ok(gaps[1]! > gaps[0]!, "delays grow");

      // The other service's subscriber never answers 2xx: 1 s, 2 s, 4 s would pass the 6 s window → dead letter.
      await submitClaimFor(t, token, svc.body);
      const letters = await poll(async () => {
        const res = await t.owner(token, "GET", `/v1/services/${svc.body.id}/webhooks/dead-letters`);
        return res.body.dead_letters.length > 0 ? res.body.dead_letters : undefined;
      }, 20_000);
      assert.equal(letters[0].event, "request.submitted");
      assert.equal(letters[0].last_error, "HTTP 500");
      assert.ok(letters[0].attempts >= 3);
      const hooks = await t.owner(token, "GET", `/v1/services/${svc.body.id}/webhooks`);
      assert.ok(hooks.body.webhooks[0].failure_count >= 3);
    } finally {
      await flaky.close();
      await down.close();
    }
  });

  test("send test event, per-webhook deliveries (status, attempts, last error), dead letter redelivered", async () => {
    let failing = true;
    const received: { headers: Json; body: string }[] = [];
    const hook = await startRecordingServer((req, res, body) => {
      received.push({ headers: req.headers, body: body.toString() });
      res.writeHead(failing ? 500 : 204).end();
    });
    try {
      const ns = `test-${rand(3)}`;
      const { token, serviceId } = await setupService(t, ns, `svc-${rand(3)}`);
      const base = `/v1/services/${serviceId}/webhooks`;
      const created = await t.owner(token, "POST", base, {
        url: hook.url,
        events: ["request.approved"],
        secret: SECRET,
      });
      assert.equal(created.status, 201);
      const id = created.body.id as string;

      // Not subscribed to webhook.test: a test event is sent all the same, signed, and fails (500) → retried.
      const sent = await t.owner(token, "POST", `${base}/${id}/test`);
      assert.equal(sent.status, 202, JSON.stringify(sent.body));
      assert.match(sent.body.delivery_id, /^dlv_/);
      assert.equal(sent.body.event, "webhook.test");
      const retrying = await poll(async () => {
        const list = await t.owner(token, "GET", `${base}/${id}/deliveries`);
        const d = list.body.deliveries[0];
        return d?.status === "retrying" ? d : undefined;
      }, 10_000);
      assert.equal(retrying.id, sent.body.delivery_id);
      assert.equal(retrying.attempts, 1);
      assert.equal(retrying.last_error, "HTTP 500");
      assert.equal(retrying.last_http_status, 500);
      assert.ok(retrying.next_attempt_at && retrying.last_attempt_at);
      const first = received[0]!;
      assert.ok(verify(first.headers, first.body), "test event signed like any other");
      assert.equal(JSON.parse(first.body).event, "webhook.test");
      assert.equal(first.headers["x-sigilum-event"], "webhook.test");

      // Past the 6 s window: dead letter, and the delivery says so.
      const letters = await poll(async () => {
        const res = await t.owner(token, "GET", `${base}/dead-letters`);
        return res.body.dead_letters.length > 0 ? res.body.dead_letters : undefined;
      }, 20_000);
      assert.equal(letters[0].delivery_id, sent.body.delivery_id);
      assert.equal(letters[0].event, "webhook.test");
      const dead = (await t.owner(token, "GET", `${base}/${id}/deliveries`)).body;
      assert.equal(dead.deliveries[0].status, "dead_letter");
      assert.equal(dead.deliveries[0].attempts, letters[0].attempts);
      assert.deepEqual(dead.pagination, { limit: 50, offset: 0, total: 1, has_more: false });

      // The receiver is fixed: redeliver → a new delivery that succeeds; the dead letter is gone.
      failing = false;
      const again = await t.owner(token, "POST", `${base}/dead-letters/${letters[0].id}/redeliver`);
      assert.equal(again.status, 202, JSON.stringify(again.body));
      assert.notEqual(again.body.delivery_id, sent.body.delivery_id);
      const delivered = await poll(async () => {
        const list = await t.owner(token, "GET", `${base}/${id}/deliveries`);
        const d = list.body.deliveries.find((x: Json) => x.id === again.body.delivery_id);
        return d?.status === "delivered" ? d : undefined;
      }, 10_000);
      assert.equal(delivered.attempts, 1);
      assert.equal(delivered.last_http_status, 204);
      assert.equal(delivered.last_error, null);
      assert.equal(JSON.parse(received.at(-1)!.body).timestamp, JSON.parse(first.body).timestamp);
      assert.deepEqual((await t.owner(token, "GET", `${base}/dead-letters`)).body.dead_letters, []);

      // Unknown, another owner's, or inactive: the documented codes.
      const other = await setupService(t, `other-${rand(3)}`, `svc-${rand(3)}`);
      for (const [owner, path, code, status] of [
        [token, `${base}/wh_0000000000000000/test`, "NOT_FOUND", 404],
        [token, `${base}/wh_0000000000000000/deliveries`, "NOT_FOUND", 404],
        [token, `${base}/dead-letters/dl_0000000000000000/redeliver`, "NOT_FOUND", 404],
        [other.token, `${base}/${id}/test`, "NOT_FOUND", 404],
        [other.token, `/v1/services/${other.serviceId}/webhooks/${id}/test`, "NOT_FOUND", 404],
        [other.token, `/v1/services/${other.serviceId}/webhooks/${id}/deliveries`, "NOT_FOUND", 404],
      ] as const) {
        const method = path.endsWith("deliveries") ? "GET" : "POST";
        const res = await t.owner(owner, method, path);
        assert.equal(res.status, status, path);
        assert.equal(res.body.code, code, path);
      }
      const c = new pg.Client({ connectionString: t.databaseUrl });
      await c.connect();
      await c.query("UPDATE webhooks SET active = false WHERE id = $1", [id]);
      await c.end();
      const inactive = await t.owner(token, "POST", `${base}/${id}/test`);
      assert.equal(inactive.status, 409);
      assert.equal(inactive.body.code, "WEBHOOK_INACTIVE");
      const rows = await tableText(t.databaseUrl!, "SELECT * FROM webhook_deliveries");
      assert.ok(!rows.includes(SECRET), "no secret in the deliveries table");
    } finally {
      await hook.close();
    }
  });

  test("bad input: 404 SERVICE_NOT_FOUND, validation, localhost refused even when private targets are allowed", async () => {
    const { token, serviceId } = await setupService(t, `bad-${rand(3)}`, `svc-${rand(3)}`);
    const path = `/v1/services/${serviceId}/webhooks`;
    const ok = { url: "http://127.0.0.1:9/x", events: ["request.approved"], secret: SECRET };
    const missing = await t.owner(token, "POST", "/v1/services/nope/webhooks", ok);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.code, "SERVICE_NOT_FOUND");
    for (const bad of [
      { ...ok, events: [] },
      { ...ok, events: ["request.unknown"] },
      { ...ok, secret: "short" },
      { ...ok, auth_header: "X-Sigilum-Event", auth_value: "x" },
      { ...ok, auth_header: "X-Ok", auth_value: "a\r\nb" },
    ]) {
      const res = await t.owner(token, "POST", path, bad);
      assert.equal(res.status, 400, JSON.stringify(bad));
      assert.equal(res.body.code, "VALIDATION_ERROR");
    }
    for (const url of [
      "http://localhost:9/x",
      "http://api.localhost/x",
      "ftp://127.0.0.1/x",
      "http://u:p@127.0.0.1/",
    ]) {
      const res = await t.owner(token, "POST", path, { ...ok, url });
      assert.equal(res.status, 400, url);
      assert.equal(res.body.code, "INVALID_WEBHOOK_URL", url);
    }
  });
});

describe("webhooks without the private-targets setting", () => {
  const t = useTestControlPlane({ redis: true, freshDatabase: true });

  test("loopback, private, link-local and metadata addresses are refused; nothing is created", async () => {
    const { token, serviceId } = await setupService(t, `ssrf-${rand(3)}`, `svc-${rand(3)}`);
    for (const url of [
      "http://127.0.0.1:8080/hook",
      "http://10.1.2.3/hook",
      "http://192.168.1.1/hook",
      "http://172.16.0.1/hook",
      "http://169.254.169.254/latest/meta-data",
      "http://[::1]/hook",
      "http://[::ffff:127.0.0.1]/hook",
      "http://[fd00::1]/hook",
      "http://0.0.0.0/hook",
    ]) {
      const res = await t.owner(token, "POST", `/v1/services/${serviceId}/webhooks`, {
        url,
        events: ["request.approved"],
        secret: SECRET,
      });
      assert.equal(res.status, 400, url);
      assert.equal(res.body.code, "INVALID_WEBHOOK_URL", url);
    }
    const svc = await t.owner(token, "POST", "/v1/services", {
      name: "X",
      slug: `x-${rand(3)}`,
      domain: "example.com",
      description: "refused",
      webhook: { url: "http://127.0.0.1/hook", secret: SECRET },
    });
    assert.equal(svc.status, 400);
    assert.equal(svc.body.code, "INVALID_WEBHOOK_URL");
    const list = await t.owner(token, "GET", `/v1/services/${serviceId}/webhooks`);
    assert.deepEqual(list.body.webhooks, []);
    const services = await t.owner(token, "GET", "/v1/services");
    assert.equal(services.body.services.length, 1, "the refused service was not created");
  });
});

async function poll<T>(probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error("timed out");
    await sleep(200);
  }
}

async function submitClaimFor(t: TestControlPlane, token: string, service: Json): Promise<void> {
  const key = await t.owner(token, "POST", `/v1/services/${service.id}/keys`, { name: "gw" });
  const ns = (await t.owner(token, "GET", "/v1/auth/me")).body.namespace as string;
  await submitClaim(t, ns, service.slug, key.body.key);
}
