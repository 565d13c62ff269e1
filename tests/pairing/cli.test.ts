import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type RecordingServer, startRecordingServer } from "@sigilum-gw/testkit/network";
import { type RunResult, runScript, serviceMain } from "@sigilum-gw/testkit/process";
import pg from "pg";
import {
  ADMIN_TOKEN,
  cpUrl,
  type Json,
  JWT_SECRET,
  ownerToken,
  type PairingStack,
  relay,
  startPairingStack,
  until,
} from "./stack.ts";

/**
 * The CLI's pairing verbs as a person runs them, with real processes: `pairing start` (owner), `gateway pair
 * --daemon/--status/--stop` (gateway host), `gateway status`, `gateway connections list|add|test|rotate|remove`.
 */

/** `sigilum gateway pair` for a started session (the options every pairing run gives). */
const pairCommand = (session: { session_id: string; pair_code: string }) => [
  "gateway",
  "pair",
  "--session-id",
  session.session_id,
  "--pair-code",
  session.pair_code,
];

describe("sigilum pairing and gateway commands", { timeout: 180_000 }, () => {
  let stack: PairingStack;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let upstream: RecordingServer;
  const namespace = `cli-${randomBytes(3).toString("hex")}`;
  const sigilum = (args: string[], stdin = ""): Promise<RunResult> =>
    runScript(serviceMain("cli"), args, { env, stdin, timeoutMs: 60_000 });
  const json = (run: RunResult): Json => {
    assert.equal(run.code, 0, `exit ${run.code}\n${run.stdout}\n${run.stderr}`);
    return JSON.parse(run.stdout);
  };

  before(async () => {
    stack = await startPairingStack();
    dir = await mkdtemp(join(tmpdir(), "sigilum-pair-cli-"));
    upstream = await startRecordingServer((_req, res) =>
      res.writeHead(200, { "content-type": "application/json" }).end("{}"),
    );
    env = {
      PATH: process.env.PATH,
      HOME: dir,
      SIGILUM_DATA_DIR: join(dir, "data"),
      SIGILUM_API_URL: cpUrl(stack.controlPlanes[0]!),
      GATEWAY_ADMIN_URL: stack.proxyUrl,
      GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN,
      JWT_SECRET,
    };
  });
  after(async () => {
    await sigilum(["gateway", "pair", "--stop"]);
    await upstream?.close();
    await stack?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("pairing start → gateway pair --daemon relays → status → stop", async () => {
    const started = json(await sigilum(["pairing", "start", "--namespace", namespace, "--json"]));
    assert.match(started.pair_code, /^[A-HJ-NP-Z2-9]{8}$/);
    assert.match(started.gateway_command, /^sigilum gateway pair --session-id \S+ --pair-code \S+ /);
    const human = await sigilum(["pairing", "start", "--namespace", namespace]);
    assert.match(human.stdout, /^Pairing session started\.$/m);
    assert.match(human.stdout, /^ {2}pair_code: +[A-HJ-NP-Z2-9]{8}$/m);

    const daemon = json(
      await sigilum([...pairCommand(started), "--namespace", namespace, "--daemon", "--json"]),
    );
    assert.equal(daemon.started, true);
    const again = await sigilum([
      "gateway",
      "pair",
      "--session-id",
      started.session_id,
      "--pair-code",
      "X",
      "--daemon",
    ]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already running \(pid=\d+\)\. Use --stop first\./);

    const running = await sigilum(["gateway", "pair", "--status"]);
    assert.equal(running.code, 0);
    assert.match(running.stdout, /^Gateway pair bridge is running \(pid=\d+\)\.$/m);
    const token = await ownerToken(namespace);
    const answer = await until("the relay to answer", 20_000, async () => {
      const res = await relay(cpUrl(stack.controlPlanes[1]!), token, started.session_id, {
        method: "GET",
        path: "/api/admin/connections",
      });
      return res.status === 200 ? res : undefined;
    });
    assert.equal(answer.body.status, 200);

    const status = json(await sigilum(["gateway", "status", "--json"]));
    assert.equal(status.healthy, true);
    assert.equal(status.pair_bridge.running, true);

    const stopped = await sigilum(["gateway", "pair", "--stop"]);
    assert.match(stopped.stdout, /^Stopped gateway pair bridge \(pid=\d+\)\.$/m);
    const gone = await sigilum(["gateway", "pair", "--status", "--json"]);
    assert.equal(gone.code, 1);
    assert.equal(JSON.parse(gone.stdout).running, false);
    assert.match(
      (await sigilum(["gateway", "pair", "--stop"])).stdout,
      /^Gateway pair bridge is not running\.$/m,
    );
  });

  test("a stale session: --daemon exits 42 with the hint, --status reports it", async () => {
    const started = json(
      await sigilum(["pairing", "start", "--namespace", namespace, "--ttl", "30", "--json"]),
    );
    const client = new pg.Client({ connectionString: stack.db.url });
    await client.connect();
    await client.query("UPDATE pairing_sessions SET expires_at = now() - interval '1 second' WHERE id = $1", [
      started.session_id,
    ]);
    await client.end();
    const run = await sigilum([...pairCommand(started), "--daemon"]);
    assert.equal(run.code, 42, run.stderr);
    assert.match(run.stderr, /pairing session is stale\/expired/);
    const status = await sigilum(["gateway", "pair", "--status"]);
    assert.equal(status.code, 1);
    assert.match(status.stderr, /stale\/expired/);
  });

  test("gateway connections add | list | test | rotate | remove through the admin API", async () => {
    const secret = `cli-${randomBytes(8).toString("hex")}`;
    const added = json(
      await sigilum(
        [
          "gateway",
          "connections",
          "add",
          "--id",
          "cli-conn",
          "--base-url",
          upstream.url,
          "--upstream-secret-stdin",
          "--json",
        ],
        `${secret}\n`,
      ),
    );
    assert.equal(added.id, "cli-conn");
    assert.equal(JSON.stringify(added).includes(secret), false);
    const list = json(await sigilum(["gateway", "connections", "list", "--json"]));
    assert.ok(list.connections.some((c: Json) => c.id === "cli-conn"));
    const tested = json(await sigilum(["gateway", "connections", "test", "cli-conn", "--json"]));
    assert.equal(tested.status, "pass");
    assert.equal(upstream.requests.at(-1)?.headers.authorization, `Bearer ${secret}`);
    const rotated = json(
      await sigilum(
        ["gateway", "connections", "rotate", "cli-conn", "--upstream-secret-stdin", "--json"],
        "new-secret\n",
      ),
    );
    assert.equal(rotated.secret_version, 2);
    json(await sigilum(["gateway", "connections", "test", "cli-conn", "--json"]));
    assert.equal(upstream.requests.at(-1)?.headers.authorization, "Bearer new-secret");
    assert.deepEqual(json(await sigilum(["gateway", "connections", "remove", "cli-conn", "--json"])), {
      deleted: true,
      id: "cli-conn",
    });
    const missing = await sigilum(["gateway", "connections", "remove", "cli-conn"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No gateway connection "cli-conn"/);
  });
});
