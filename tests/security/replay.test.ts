import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { signRequest } from "@sigilum-gw/shared/http-signatures";
import { createIdentity, type SigilumIdentity } from "@sigilum-gw/shared/identity";
import { runScript, serviceMain } from "@sigilum-gw/testkit/process";
import {
  rand,
  setupService,
  startTestControlPlane,
  type TestControlPlane,
} from "../../services/control-plane/test/helpers.ts";
import { createConnection, sign, startGateway } from "./support/agent.ts";
import { sendSigned } from "./support/http.ts";
import { type OwnRedis, startOwnRedis } from "./support/own-redis.ts";
import type { Stack } from "./support/stack.ts";

/**
 * Replay: the exact bytes of an accepted request, sent again to the same replica, to the other replica, as
 * concurrent copies, and (finding 2) after Redis restarted from an older snapshot or came back empty. Each must
 * be refused with its code, and the upstream must have received the request once. The control plane checks
 * signed requests against its own nonce window in the same Redis: the same restart must not reopen it either.
 */

describe("replay across replicas", () => {
  let stack: Stack;
  let agent: SigilumIdentity;
  before(async () => {
    ({ stack, agent } = await startGateway(["rep"], { replicas: 2 }));
    await createConnection(stack.replicas[0]!.url, "rep", stack.upstream.url, "replay-key");
  });
  after(() => stack?.stop());

  test("same replica, other replica, and 20 concurrent copies: one forward, the rest 403 AUTH_REPLAY_DETECTED", async () => {
    const [a, b] = stack.replicas.map((r) => r.url) as [string, string];
    const signed = sign(agent, a, "/proxy/rep/charge", { method: "POST", body: '{"amount":100}' });
    const before = stack.upstream.requests.length;
    assert.equal((await sendSigned(a, signed)).status, 200);
    const again = await sendSigned(a, signed);
    assert.equal(again.status, 403);
    assert.equal(again.code, "AUTH_REPLAY_DETECTED");
    // The other replica: Host is what the agent signed (replica a's), the socket goes to replica b.
    const other = await sendSigned(b, signed, { headers: [["host", new URL(a).host]] });
    assert.equal(other.status, 403);
    assert.equal(other.code, "AUTH_REPLAY_DETECTED");

    const fresh = sign(agent, a, "/proxy/rep/charge", { method: "POST", body: '{"amount":200}' });
    const copies = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        sendSigned(i % 2 ? b : a, fresh, { headers: [["host", new URL(a).host]] }),
      ),
    );
    assert.equal(copies.filter((r) => r.status === 200).length, 1);
    assert.ok(copies.every((r) => r.status === 200 || r.code === "AUTH_REPLAY_DETECTED"));
    assert.equal(
      stack.upstream.requests.length,
      before + 2,
      "each request reached the upstream exactly once",
    );
  });
});

describe("replay after a Redis restart or rollback (finding 2)", () => {
  let redis: OwnRedis;
  let stack: Stack;
  let gw: string;
  let agent: SigilumIdentity;
  before(async () => {
    redis = await startOwnRedis();
    ({ stack, gw, agent } = await startGateway(["roll"], { redisUrl: redis.url }));
    await createConnection(gw, "roll", stack.upstream.url, "rollback-key");
  });
  after(async () => {
    await stack?.stop();
    await redis?.stop();
  });

  /** Waits until the gateway answers again after Redis came back (the verifier reconnects with backoff). */
  async function untilServing(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const probe = await sendSigned(gw, sign(agent, gw, "/proxy/roll/probe"));
      if (probe.status !== 503) return;
      await sleep(100);
    }
    throw new Error("the gateway did not come back after the Redis restart");
  }

  test("snapshot → R allowed → Redis restarted from the snapshot → R's bytes → 403 AUTH_REPLAY_WINDOW_RESET", async () => {
    await redis.snapshot();
    const r = sign(agent, gw, "/proxy/roll/transfer", { method: "POST", body: '{"to":"mallory"}' });
    const before = stack.upstream.requests.length;
    assert.equal((await sendSigned(gw, r)).status, 200);
    await redis.restart("snapshot");
    await untilServing();
    const replayed = await sendSigned(gw, r);
    assert.equal(replayed.status, 403, replayed.text);
    assert.equal(replayed.code, "AUTH_REPLAY_WINDOW_RESET");
    assert.equal(
      stack.upstream.requests.filter((q) => q.url === "/transfer").length,
      stack.upstream.requests.slice(0, before).filter((q) => q.url === "/transfer").length + 1,
      "R was forwarded twice",
    );
    // Requests signed after the restart (plus the clock-skew margin) pass again.
    await sleep(6500);
    const later = await sendSigned(gw, sign(agent, gw, "/proxy/roll/after"));
    assert.equal(later.status, 200, later.text);
  });

  test("Redis back with no data → R's bytes → 403 AUTH_REPLAY_WINDOW_RESET; `sigilum gateway restore` brings the connections back", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sigilum-backup-"));
    const file = join(dir, "gateway-backup.json");
    const cli = (args: string[]) =>
      runScript(serviceMain("cli"), [...args, "--gateway-admin-url", gw, "--json"], {
        env: { SIGILUM_DATA_DIR: dir, HOME: dir },
        timeoutMs: 60_000,
      });
    try {
      const saved = await cli(["gateway", "backup", file]);
      assert.equal(saved.code, 0, saved.stderr);
      assert.equal(JSON.parse(saved.stdout).connections, 1);
      const text = await readFile(file, "utf8");
      assert.equal(text.includes("rollback-key"), false, "the backup holds a secret in clear");
      assert.equal(((await stat(file)).mode & 0o777).toString(8), "600");

      const r = sign(agent, gw, "/proxy/roll/again", { method: "POST", body: '{"n":1}' });
      assert.equal((await sendSigned(gw, r)).status, 200);
      const forwarded = stack.upstream.requests.length;
      await redis.restart("empty");
      await untilServing();
      const replayed = await sendSigned(gw, r);
      assert.equal(replayed.status, 403, replayed.text);
      assert.equal(replayed.code, "AUTH_REPLAY_WINDOW_RESET");
      assert.equal(stack.upstream.requests.length, forwarded);

      const restored = await cli(["gateway", "restore", file]);
      assert.equal(restored.code, 0, restored.stderr);
      assert.deepEqual(JSON.parse(restored.stdout).connections, { restored: 1, skipped: 0 });
      await sleep(6500);
      const after = await sendSigned(gw, sign(agent, gw, "/proxy/roll/restored"));
      assert.equal(after.status, 200, after.text);
      assert.equal(stack.upstream.requests.at(-1)?.headers.authorization, "Bearer rollback-key");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("control plane: replay after a Redis restart from a snapshot (finding 2)", () => {
  let redis: OwnRedis;
  let cp: TestControlPlane;
  let namespace: string;
  let agent: SigilumIdentity;
  before(async () => {
    redis = await startOwnRedis();
    cp = await startTestControlPlane({ env: { REDIS_URL: redis.url } });
    namespace = `cp-replay-${rand(3)}`;
    await setupService(cp, namespace, `svc-${rand(3)}`);
    agent = createIdentity(namespace);
  });
  after(async () => {
    await cp?.stop();
    await redis?.stop();
  });

  /** A signed read of the agent's own namespace (the route binds the signer to it). */
  const signed = () => signRequest(agent, { url: `${cp.url}/v1/namespaces/${namespace}` });

  test("snapshot → R accepted → redis-server restarted from the snapshot → R's bytes → 403 AUTH_REPLAY_WINDOW_RESET", async () => {
    await redis.snapshot();
    const r = signed();
    const first = await sendSigned(cp.url, r);
    assert.equal(first.status, 200, first.text);
    const again = await sendSigned(cp.url, r);
    assert.equal(again.status, 409, again.text);
    assert.equal(again.code, "SIGNATURE_NONCE_REPLAY");

    await redis.restart("snapshot");
    // The control plane reconnects with backoff: until then a fresh request is 503 NONCE_STORE_UNAVAILABLE.
    for (let i = 0; ; i++) {
      const probe = await sendSigned(cp.url, signed());
      if (probe.status !== 503) break;
      assert.equal(probe.code, "NONCE_STORE_UNAVAILABLE");
      if (i === 100) throw new Error("the control plane did not come back after the Redis restart");
      await sleep(100);
    }
    const replayed = await sendSigned(cp.url, r);
    assert.equal(replayed.status, 403, replayed.text);
    assert.equal(replayed.code, "AUTH_REPLAY_WINDOW_RESET");

    // Requests signed after the restart (plus the clock-skew margin) pass again.
    await sleep(6500);
    const later = await sendSigned(cp.url, signed());
    assert.equal(later.status, 200, later.text);
  });
});
