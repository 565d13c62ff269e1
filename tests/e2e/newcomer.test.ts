import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createSigilumClient } from "@sigilum-gw/sdk";
import { isolatedStackEnv, type RecordingServer, startEchoServer } from "@sigilum-gw/testkit/network";
import { createTestDatabase, type TestDatabase } from "@sigilum-gw/testkit/postgres";
import { type RunResult, runScript, serviceMain, stdoutJson } from "@sigilum-gw/testkit/process";
import { deletePrefix, REDIS_URL, randomPrefix } from "@sigilum-gw/testkit/redis";
import { until } from "@sigilum-gw/testkit/until";

/**
 * The newcomer path, with real processes exactly as a person runs them: `sigilum up` (control plane, verifier,
 * proxy inline on random ports, real Redis, PostgreSQL from DATABASE_URL or the stack's own server) → `init` → `service add`
 * (upstream = a loopback echo server) → `request` is refused with AUTH_CLAIM_REQUIRED and a pending claim
 * appears → `approvals approve` → `request` reaches the upstream with the injected credential and no Sigilum
 * headers → `approvals revoke` → the next request is denied within 1 s → `down`.
 */

function sigilum(args: string[], env: NodeJS.ProcessEnv, stdin = ""): Promise<RunResult> {
  return runScript(serviceMain("cli"), args, { env, stdin, timeoutMs: 150_000 });
}

const SIGILUM_HEADER_RE = /^(sigilum-|x-sigilum-|signature$|signature-input$|content-digest$)/;

function newcomerPath(database: "postgres" | "embedded-postgres"): void {
  describe(`newcomer path (${database})`, { timeout: 600_000 }, () => {
    let dir: string;
    let env: NodeJS.ProcessEnv;
    let echo: RecordingServer;
    let prefix: string;
    let db: TestDatabase | undefined;
    const secret = `e2e-upstream-${randomBytes(12).toString("hex")}`;
    let namespace: string;
    let claimId: string;
    let pids: number[] = [];
    let urls: Record<string, string> = {};

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), `sigilum-e2e-${database}-`));
      echo = await startEchoServer();
      prefix = randomPrefix();
      env = {
        PATH: process.env.PATH,
        ...isolatedStackEnv(dir),
        REDIS_URL,
        REDIS_PREFIX: prefix,
        // The verifier registers one access request per agent key and service per window (default 60 s); a short
        // window lets the test re-request access right after a revocation.
        VERIFIER_CLAIM_SUBMIT_DEDUPE_SECONDS: "2",
      };
      if (database === "postgres") {
        db = await createTestDatabase("sigilum_e2e_");
        env.DATABASE_URL = db.url;
      }
    });

    after(async () => {
      // Whatever happened, stop what this test started and remove what it created.
      await sigilum(["down"], env).catch(() => undefined);
      await echo.close();
      await deletePrefix(prefix);
      await db?.drop();
      await rm(dir, { recursive: true, force: true });
    });

    test("up starts the stack on free ports and reports every address", async (t) => {
      t.diagnostic(`redis prefix ${prefix}${db ? `, database ${db.name}` : ""}`);
      const up = await sigilum(["up", "--json"], env);
      assert.equal(up.code, 0, up.stderr);
      const state = stdoutJson<{
        already_running: boolean;
        gateway_namespace: string;
        database: string;
        urls: Record<string, string>;
        services: Record<string, { pid: number }>;
      }>(up);
      assert.equal(state.already_running, false);
      assert.equal(state.database, database);
      for (const url of [state.urls.gateway, state.urls.control_plane, state.urls.verifier])
        assert.match(url ?? "", /^http:\/\/127\.0\.0\.1:[1-9]\d*$/);
      urls = state.urls;
      const health = await fetch(`${urls.control_plane}/health`);
      assert.equal(health.status, 200, "the control plane answers on the port up reported");
      assert.match(up.stderr, /control-plane is healthy/);
      namespace = state.gateway_namespace;
      pids = Object.values(state.services).map((s) => s.pid);
      assert.deepEqual(Object.keys(state.services), [
        ...(database === "embedded-postgres" ? ["postgres"] : []),
        "control-plane",
        "verifier",
        "proxy",
        "usage-worker",
      ]);

      const status = stdoutJson<{ running: boolean; healthy: boolean }>(
        await sigilum(["status", "--json"], env),
      );
      assert.deepEqual([status.running, status.healthy], [true, true]);
      for (const name of ["gateway-master-key", "internal-secret", "admin-token"]) {
        assert.equal((await stat(join(env.SIGILUM_DATA_DIR as string, "secrets", name))).mode & 0o777, 0o600);
      }
    });

    test("a second up says it already runs and exits 0", async () => {
      const again = await sigilum(["up"], env);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /already running/);
      assert.match(again.stdout, new RegExp(`gateway: +${urls.gateway}`));
    });

    test("init creates the agent identity in the namespace up printed", async () => {
      const init = stdoutJson<{ created: boolean; namespace: string }>(
        await sigilum(["init", namespace, "--json"], env),
      );
      assert.deepEqual([init.created, init.namespace], [true, namespace]);
    });

    test("service add registers the service, its key file and the gateway connection", async () => {
      const add = await sigilum(
        ["service", "add", "echo", "--upstream-base-url", echo.url, "--upstream-secret-stdin", "--json"],
        env,
        `${secret}\n`,
      );
      assert.equal(add.code, 0, add.stderr);
      const out = stdoutJson<{
        mode: string;
        api_key: { file: string; created: boolean };
        connection: { auth_mode: string };
      }>(add);
      assert.equal(out.mode, "gateway");
      assert.equal(out.api_key.created, true);
      assert.equal(out.connection.auth_mode, "bearer");
      assert.equal((await stat(out.api_key.file)).mode & 0o777, 0o600);
      assert.doesNotMatch(
        add.stdout + add.stderr,
        new RegExp(secret),
        "the upstream secret is never printed",
      );
      const list = stdoutJson<{ services: { service_slug: string; mode: string }[] }>(
        await sigilum(["service", "list", "--json"], env),
      );
      assert.deepEqual(
        list.services.map((s) => [s.service_slug, s.mode]),
        [["echo", "gateway"]],
      );
    });

    test("the first request is refused with AUTH_CLAIM_REQUIRED and a pending claim appears", async () => {
      const request = await sigilum(["request", "GET", "/proxy/echo/v1/ping", "--json"], env);
      assert.equal(request.code, 1);
      const answer = stdoutJson<{ status: number; headers: Record<string, string>; body: string }>(request);
      assert.equal(answer.status, 403);
      assert.equal(answer.headers["x-sigilum-code"], "AUTH_CLAIM_REQUIRED");
      assert.match(answer.body, /Namespace owner approval is required now/);
      assert.equal(echo.requests.length, 0, "nothing reached the upstream");

      const identity = await createSigilumClient({ namespace, homeDir: env.SIGILUM_HOME });
      const claim = await until("a pending claim", 15_000, async () => {
        const list = stdoutJson<{
          claims: {
            claim_id: string;
            service: string;
            namespace: string;
            public_key: string;
            status: string;
          }[];
        }>(await sigilum(["approvals", "list", "--json"], env));
        return list.claims.find((c) => c.service === "echo" && c.status === "pending");
      });
      assert.equal(claim.namespace, namespace);
      assert.equal(claim.public_key, identity.publicKey);
      claimId = claim.claim_id;
    });

    test("after approval the request reaches the upstream with the credential and without Sigilum headers", async () => {
      const approve = await sigilum(["approvals", "approve", claimId, "--json"], env);
      assert.equal(approve.code, 0, approve.stderr);
      assert.equal(stdoutJson<{ status: string }>(approve).status, "approved");

      const answer = await until("an allowed request", 10_000, async () => {
        const run = await sigilum(
          [
            "request",
            "POST",
            "/proxy/echo/v1/ping",
            "--data",
            '"ping"',
            "-H",
            "content-type: application/json",
            "--json",
          ],
          env,
        );
        const out = stdoutJson<{ status: number; body: string }>(run);
        return out.status === 200 ? { run, out } : undefined;
      });
      assert.equal(answer.run.code, 0);
      assert.deepEqual(JSON.parse(answer.out.body), { echoed: true, url: "/v1/ping" });
      const upstream = echo.requests.at(-1)!;
      assert.equal(upstream.method, "POST");
      assert.equal(upstream.url, "/v1/ping");
      assert.equal(upstream.body, '"ping"');
      assert.equal(upstream.headers.authorization, `Bearer ${secret}`);
      const leaked = Object.keys(upstream.headers).filter((h) => SIGILUM_HEADER_RE.test(h));
      assert.deepEqual(leaked, [], "no signing or Sigilum header reaches the upstream");
    });

    test("the allowed request is reported as usage to the control plane (through the usage worker)", async () => {
      const token = (
        await readFile(join(env.OPENCLAW_HOME as string, ".sigilum", `owner-token-${namespace}.jwt`), "utf8")
      ).trim();
      const usage = await until("a usage event in the control plane", 15_000, async () => {
        const response = await fetch(`${urls.control_plane}/v1/namespaces/${namespace}/usage`, {
          headers: { authorization: `Bearer ${token}` },
        });
        assert.equal(response.status, 200);
        const body = (await response.json()) as {
          rows: Array<{ provider: string; subject: string; success_calls: number }>;
        };
        return body.rows.find((row) => row.provider === "echo" && row.success_calls >= 1);
      });
      assert.ok(usage.subject, "attributed to the agent's subject");
    });

    test("service secret set replaces the injected credential; service add again needs --force", async () => {
      const rotated = `${secret}-rotated`;
      const set = await sigilum(
        ["service", "secret", "set", "echo", "--upstream-secret-stdin", "--json"],
        env,
        rotated,
      );
      assert.equal(set.code, 0, set.stderr);
      assert.equal(stdoutJson<{ secret_version: number }>(set).secret_version, 2);
      assert.doesNotMatch(set.stdout + set.stderr, new RegExp(secret));
      const run = await sigilum(["request", "GET", "/proxy/echo/v1/rotated", "--json"], env);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(echo.requests.at(-1)?.headers.authorization, `Bearer ${rotated}`);

      const again = await sigilum(
        ["service", "add", "echo", "--upstream-base-url", echo.url, "--upstream-secret-stdin"],
        env,
        secret,
      );
      assert.equal(again.code, 1);
      assert.match(again.stderr, /already has a connection "echo"/);
      assert.match(again.stderr, /--force/);
      const forced = await sigilum(
        [
          "service",
          "add",
          "echo",
          "--upstream-base-url",
          echo.url,
          "--upstream-secret-stdin",
          "--force",
          "--json",
        ],
        env,
        secret,
      );
      assert.equal(forced.code, 0, forced.stderr);
      assert.equal(
        stdoutJson<{ api_key: { created: boolean } }>(forced).api_key.created,
        false,
        "the key file is kept",
      );
      const after = await sigilum(["request", "GET", "/proxy/echo/v1/recreated", "--json"], env);
      assert.equal(after.code, 0, after.stderr);
      assert.equal(echo.requests.at(-1)?.headers.authorization, `Bearer ${secret}`);
    });

    test("after revocation the next request is denied within 1 s", async (t) => {
      const client = await createSigilumClient({ namespace, homeDir: env.SIGILUM_HOME });
      const gateway = urls.gateway;
      const revoke = await sigilum(["approvals", "revoke", claimId, "--json"], env);
      assert.equal(revoke.code, 0, revoke.stderr);
      const revokedAt = Date.now();
      const reachedBefore = echo.requests.length;
      let status = 0;
      while (Date.now() - revokedAt < 1000) {
        const response = await client.fetch(`${gateway}/proxy/echo/v1/after-revoke`);
        await response.arrayBuffer();
        status = response.status;
        if (status === 403) break;
        await sleep(25);
      }
      const elapsed = Date.now() - revokedAt;
      assert.equal(status, 403, `still allowed ${elapsed} ms after the revocation`);
      assert.ok(elapsed < 1000, `denied after ${elapsed} ms`);
      t.diagnostic(`denied ${elapsed} ms after the revocation returned`);

      const run = await sigilum(["request", "GET", "/proxy/echo/v1/after-revoke", "--json"], env);
      assert.equal(run.code, 1);
      assert.equal(
        stdoutJson<{ headers: Record<string, string> }>(run).headers["x-sigilum-code"],
        "AUTH_CLAIM_REQUIRED",
      );
      const allowedAfter = echo.requests.slice(reachedBefore).filter((r) => r.url === "/v1/after-revoke");
      assert.ok(
        allowedAfter.length <= 1,
        "at most a request already in flight at the revocation got through",
      );
    });

    test("a new request after the revocation can be denied by the owner", async () => {
      const pending = await until("a new pending claim", 15_000, async () => {
        await sigilum(["request", "GET", "/proxy/echo/v1/again"], env);
        const list = stdoutJson<{ claims: { claim_id: string; status: string }[] }>(
          await sigilum(["approvals", "list", "--json"], env),
        );
        return list.claims.find((c) => c.status === "pending");
      });
      const deny = await sigilum(["approvals", "deny", pending.claim_id, "--json"], env);
      assert.equal(deny.code, 0, deny.stderr);
      assert.equal(stdoutJson<{ status: string }>(deny).status, "rejected");
      const twice = await sigilum(["approvals", "approve", pending.claim_id], env);
      assert.equal(twice.code, 1);
      assert.match(twice.stderr, /Only pending requests can be approved/);
      const denied = await sigilum(["request", "GET", "/proxy/echo/v1/again", "--json"], env);
      assert.equal(stdoutJson<{ status: number }>(denied).status, 403);
    });

    test("the revoked claim stays in the history, listed by status", async () => {
      const revoked = stdoutJson<{ claims: { claim_id: string; status: string }[] }>(
        await sigilum(["approvals", "list", "--status", "revoked", "--json"], env),
      );
      assert.ok(revoked.claims.some((c) => c.claim_id === claimId && c.status === "revoked"));
      const all = stdoutJson<{ claims: { claim_id: string; status: string }[] }>(
        await sigilum(["approvals", "list", "--all", "--json"], env),
      );
      assert.equal(all.claims.find((c) => c.claim_id === claimId)?.status, "revoked");
    });

    test("usage counts the calls per service", async () => {
      const usage = await until("usage of echo", 15_000, async () => {
        const run = stdoutJson<{ services: { service: string; calls: number }[] }>(
          await sigilum(["usage", "--json"], env),
        );
        return run.services.find((s) => s.service === "echo" && s.calls >= 1);
      });
      assert.ok(usage.calls >= 1);
    });

    test("service remove deletes the connection, the key file and the service; the id is then 404", async () => {
      const removed = await sigilum(["service", "remove", "echo", "--json"], env);
      assert.equal(removed.code, 0, removed.stderr);
      assert.deepEqual(stdoutJson<{ removed: Record<string, boolean> }>(removed).removed, {
        gateway_connection: true,
        key_file: true,
        control_plane_service: true,
      });
      const gone = stdoutJson<{ status: number; body: string }>(
        await sigilum(["request", "GET", "/proxy/echo/v1/x", "--json"], env),
      );
      assert.equal(gone.status, 404);
      assert.match(gone.body, /CONNECTION_NOT_FOUND/);
      const again = await sigilum(["service", "remove", "echo", "--json"], env);
      assert.equal(again.code, 1);
      assert.equal(stdoutJson<{ code: string }>(again).code, "NOT_FOUND");
    });

    test("down stops every process and removes the pid files", async () => {
      const down = await sigilum(["down", "--json"], env);
      assert.equal(down.code, 0, down.stderr);
      for (const pid of pids) {
        assert.throws(() => process.kill(pid, 0), /ESRCH/, `pid ${pid} is gone`);
      }
      const status = await sigilum(["status", "--json"], env);
      assert.equal(status.code, 1);
      assert.equal(stdoutJson<{ running: boolean }>(status).running, false);
    });
  });
}

newcomerPath("postgres");
newcomerPath("embedded-postgres");
