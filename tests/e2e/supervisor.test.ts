import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { isolatedStackEnv } from "@sigilum-gw/testkit/network";
import { type RunResult, runScript, serviceMain } from "@sigilum-gw/testkit/process";

/**
 * The local stack survives a crash: a service killed with SIGKILL is restarted by the supervisor (status names it and
 * counts the restart, the supervisor log says so) and the stack answers signed requests again. The stack runs its
 * own Redis (REDIS_URL unset).
 */

interface Status {
  healthy: boolean;
  failing: string[];
  services: {
    name: string;
    pid: number | null;
    state: string;
    restarts: number;
    last_exit_code: number | null;
  }[];
}

describe("supervisor: a crashed service is restarted", { timeout: 300_000 }, () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const sigilum = (args: string[]): Promise<RunResult> =>
    runScript(serviceMain("cli"), args, { env, timeoutMs: 150_000 });
  const status = async (): Promise<Status> =>
    JSON.parse((await sigilum(["status", "--json"])).stdout) as Status;
  async function until(what: string, ok: (s: Status) => boolean, timeoutMs = 60_000): Promise<Status> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const current = await status();
      if (ok(current)) return current;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(current)}`);
      await sleep(300);
    }
  }

  before(
    async () => {
      dir = await mkdtemp(join(tmpdir(), "sigilum-supervisor-"));
      const { REDIS_URL: _unset, REDIS_PREFIX: _unsetPrefix, ...inherited } = process.env;
      env = {
        PATH: inherited.PATH,
        ...isolatedStackEnv(dir),
      };
      const up = await sigilum(["up"]);
      assert.equal(up.code, 0, up.stderr);
      assert.match(up.stderr, /a signed request is decided end to end/);
      assert.equal((await sigilum(["init"])).code, 0);
    },
    { timeout: 240_000 },
  );

  after(
    async () => {
      await sigilum(["down"]);
      await rm(dir, { recursive: true, force: true });
    },
    { timeout: 120_000 },
  );

  test("doctor on the running stack: every service healthy, the clock compared", {
    timeout: 120_000,
  }, async () => {
    const run = await sigilum(["doctor", "--json"]);
    const doctor = JSON.parse(run.stdout) as {
      ok: boolean;
      checks: { name: string; ok: boolean; detail: string }[];
    };
    assert.equal(run.code, 0, run.stdout);
    assert.equal(doctor.ok, true);
    assert.match(doctor.checks.find((c) => c.name === "services")?.detail ?? "", /6 healthy/);
    assert.match(doctor.checks.find((c) => c.name === "clock")?.detail ?? "", /skew -?\d+s/);
  });

  for (const name of ["proxy", "control-plane", "postgres"]) {
    test(`${name} killed with SIGKILL: restarted, named in status, the stack answers again`, {
      timeout: 200_000,
    }, async () => {
      const before = await status();
      const victim = before.services.find((s) => s.name === name);
      assert.ok(victim?.pid, `${name} runs`);
      process.kill(victim.pid, "SIGKILL");
      const restarted = await until(
        `${name} to be restarted`,
        (s) => s.healthy && (s.services.find((x) => x.name === name)?.restarts ?? 0) > victim.restarts,
      );
      const now = restarted.services.find((s) => s.name === name);
      assert.notEqual(now?.pid, victim.pid);
      assert.equal(now?.last_exit_code, 137);
      const log = await readFile(join(env.SIGILUM_DATA_DIR as string, "logs", "supervisor.log"), "utf8");
      assert.match(log, new RegExp(`${name} exited with code 137; restarting it in \\d+(\\.\\d+)?s`));
      const request = await sigilum(["request", "GET", "/proxy/no-such-api/x", "--json"]);
      const answer = JSON.parse(request.stdout) as { status: number; body: string };
      assert.equal(answer.status, 404, request.stdout);
      assert.match(answer.body, /CONNECTION_NOT_FOUND/);
    });
  }

  test("status says which service died: its restarts and last exit code, in JSON and in text", {
    timeout: 200_000,
  }, async () => {
    const current = await status();
    const verifier = current.services.find((s) => s.name === "verifier");
    assert.ok(verifier?.pid);
    process.kill(verifier.pid, "SIGKILL");
    await until(
      "the verifier to be restarted",
      (s) => s.healthy && (s.services.find((x) => x.name === "verifier")?.restarts ?? 0) > verifier.restarts,
    );
    // The row alone: on a loaded machine another service's health probe may time out at this moment.
    const human = await sigilum(["status"]);
    assert.match(human.stdout, /verifier +\d+ +healthy +\d+ \(last exit 137\)/);
  });
});
