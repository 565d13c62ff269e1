import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { initIdentity } from "@sigilum-gw/shared/identity";
import { isolatedStackEnv } from "@sigilum-gw/testkit/network";
import { perService } from "../src/commands/usage.ts";
import { runInProcess, tempDir } from "./support/run.ts";

interface Doctor {
  ok: boolean;
  checks: { name: string; ok: boolean; detail: string; fix?: string }[];
}

describe("sigilum doctor", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let env: NodeJS.ProcessEnv;
  before(async () => {
    dir = await tempDir("sigilum-cli-doctor-");
    env = { PATH: process.env.PATH, ...isolatedStackEnv(dir.path) };
  });
  after(() => dir.cleanup());

  const check = (doctor: Doctor, name: string) => doctor.checks.find((c) => c.name === name);

  test("a machine ready for `sigilum up`: every check passes, exit 0", async () => {
    const result = await runInProcess(["doctor", "--json"], { env });
    const doctor = JSON.parse(result.stdout) as Doctor;
    assert.equal(result.code, 0, result.stdout);
    assert.equal(doctor.ok, true);
    assert.deepEqual(
      doctor.checks.map((c) => c.name),
      ["node", "redis", "postgresql", "ports", "identity", "clock", "services"],
    );
    assert.match(check(doctor, "redis")?.detail ?? "", /redis-server .* on PATH/);
    assert.match(
      check(doctor, "postgresql")?.detail ?? "",
      /PostgreSQL.* in \/.* \(the stack runs its own server\)/,
    );
  });

  test("each failing check says what is wrong and how to fix it; exit 1", async () => {
    await initIdentity({ namespace: "team-gw", homeDir: `${dir.path}/data/gateway-home` });
    const result = await runInProcess(["doctor", "--json"], {
      env: {
        ...env,
        REDIS_URL: "redis://127.0.0.1:9",
        PATH: "/nonexistent",
        SIGILUM_POSTGRES_BIN_DIR: "/nonexistent",
      },
    });
    assert.equal(result.code, 1);
    const doctor = JSON.parse(result.stdout) as Doctor;
    assert.equal(doctor.ok, false);
    assert.equal(check(doctor, "redis")?.ok, false);
    assert.match(check(doctor, "redis")?.fix ?? "", /REDIS_URL/);
    assert.equal(check(doctor, "postgresql")?.ok, false);
    assert.match(check(doctor, "postgresql")?.detail ?? "", /not found in \/nonexistent/);
    assert.match(check(doctor, "postgresql")?.fix ?? "", /apt-get install postgresql[\s\S]*DATABASE_URL/);
    assert.equal(check(doctor, "identity")?.ok, false);
    assert.match(check(doctor, "identity")?.fix ?? "", /sigilum init/);
    const human = await runInProcess(["doctor"], { env: { ...env, REDIS_URL: "redis://127.0.0.1:9" } });
    assert.match(human.stdout, /\[fail\] redis/);
    assert.match(human.stdout, /fix: /);
  });
});

describe("sigilum usage", () => {
  test("the control plane's groups are added up per service, busiest first", () => {
    const row = (provider: string, total: number, errors: number, last: string) => ({
      provider,
      total_calls: total,
      success_calls: total - errors,
      error_calls: errors,
      last_used_at: last,
    });
    assert.deepEqual(
      perService([
        row("crm", 2, 0, "2026-01-01T00:00:00.000Z"),
        row("mail", 5, 1, "2026-01-02T00:00:00.000Z"),
        row("crm", 4, 2, "2026-01-03T00:00:00.000Z"),
      ]),
      [
        { service: "crm", calls: 6, succeeded: 4, failed: 2, last_used_at: "2026-01-03T00:00:00.000Z" },
        { service: "mail", calls: 5, succeeded: 4, failed: 1, last_used_at: "2026-01-02T00:00:00.000Z" },
      ],
    );
  });
});
