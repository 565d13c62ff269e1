import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { isolatedStackEnv, type RecordingServer, startRecordingServer } from "@sigilum-gw/testkit/network";
import { Redis } from "ioredis";

/**
 * The README's "Try it" block, run line by line exactly as written in a shell, with REDIS_URL unset (the stack runs
 * its own redis-server). Two substitutions only: the upstream (`https://api.example.com` → a loopback echo server,
 * tests talk to loopback only) and `<claim-id>` (the id `approvals list` printed). Ports and directories are moved
 * by the variables the README documents, so the developer's own stack is never touched.
 */

const REPO_ROOT = resolve(import.meta.dirname, "..", "..");
const run = promisify(execFile);

async function tryItCommands(): Promise<string[]> {
  const readme = await readFile(join(REPO_ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Try it"));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block, "README has a Try it block");
  return block
    .replace(/\\\n\s*/g, "")
    .split("\n")
    .map((line) => line.replace(/\s+#.*$/, "").trim())
    .filter((line) => line !== "");
}

interface Step {
  command: string;
  code: number;
  stdout: string;
  stderr: string;
}

describe("README: Try it on one machine", { timeout: 420_000 }, () => {
  let dir: string;
  let upstream: RecordingServer;
  let env: NodeJS.ProcessEnv;
  let aliasLine = "";
  const token = `try-it-${randomBytes(8).toString("hex")}`;
  const steps: Step[] = [];

  async function sh(command: string): Promise<Step> {
    const script = `shopt -s expand_aliases\n${aliasLine}\n${command}`;
    const step = await run("bash", ["-c", script], { cwd: REPO_ROOT, env, timeout: 180_000 }).then(
      ({ stdout, stderr }) => ({ command, code: 0, stdout, stderr }),
      (error: { code?: number; stdout?: string; stderr?: string }) => ({
        command,
        code: typeof error.code === "number" ? error.code : -1,
        stdout: error.stdout ?? "",
        stderr: error.stderr ?? "",
      }),
    );
    steps.push(step);
    return step;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sigilum-try-it-"));
    upstream = await startRecordingServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"thing":"ok"}');
    });
    // DATABASE_URL unset too: a shared database would keep the previous run's service keys (KEY_LIMIT_REACHED).
    const {
      REDIS_URL: _unset,
      REDIS_PREFIX: _unsetPrefix,
      DATABASE_URL: _unsetDb,
      ...inherited
    } = process.env;
    env = {
      ...inherited,
      // A shell on this machine: nothing of this checkout on PATH (npx finds the project's bin and Node itself).
      PATH: (process.env.PATH ?? "")
        .split(delimiter)
        .filter((d) => d && !resolve(d).startsWith(REPO_ROOT))
        .join(delimiter),
      ...isolatedStackEnv(dir),
      USER: "tryit",
      LOGNAME: "tryit",
      MY_API_TOKEN: token,
    };
  });

  after(
    async () => {
      if (steps.at(-1)?.command !== "sigilum down") await sh("sigilum down");
      await upstream.close();
      await rm(dir, { recursive: true, force: true });
    },
    { timeout: 120_000 },
  );

  test("every line of the block does what its comment says", { timeout: 400_000 }, async (t) => {
    const commands = await tryItCommands();
    let claimId = "";
    let pids: number[] = [];
    let redisUrl = "";
    const requests: Step[] = [];
    for (const raw of commands) {
      if (raw === "npm install") continue; // done by `npm install && npm test`; tests/repo/fresh-clone covers it
      if (raw.startsWith("alias ")) {
        aliasLine = raw;
        continue;
      }
      // `--open` would launch a browser: the test logs in without it.
      const command = raw
        .replace("https://api.example.com", upstream.url)
        .replace("<claim-id>", claimId)
        .replace(" --open", "");
      const step = await sh(command);
      t.diagnostic(`$ ${command} → exit ${step.code}`);
      if (command === "sigilum up") {
        assert.equal(step.code, 0, step.stderr);
        const state = JSON.parse(
          await readFile(join(env.SIGILUM_DATA_DIR as string, "run", "stack.json"), "utf8"),
        );
        pids = Object.values(state.services as Record<string, { pid: number }>).map((s) => s.pid);
        redisUrl = state.redis.url;
        assert.equal(state.redis.embedded, true, "REDIS_URL unset: the stack's own redis-server");
        assert.ok(pids.length >= 5, "redis, control plane, verifier, proxy, usage worker");
      } else if (command.startsWith("sigilum request")) {
        requests.push(step);
      } else if (command === "sigilum approvals list") {
        assert.equal(step.code, 0, step.stderr);
        claimId = /\b(cl_[0-9a-f]{24})\b/.exec(step.stdout)?.[1] ?? "";
        assert.ok(claimId, `a pending claim id in:\n${step.stdout}`);
      } else {
        assert.equal(step.code, 0, `${command}\n${step.stdout}\n${step.stderr}`);
      }
    }

    const [first, approved, revoked] = requests;
    assert.equal(requests.length, 3);
    assert.match(first?.stdout ?? "", /HTTP 403/);
    assert.match(first?.stdout ?? "", /AUTH_CLAIM_REQUIRED/);
    assert.match(approved?.stdout ?? "", /HTTP 200/);
    assert.match(approved?.stdout ?? "", /"thing":"ok"/);
    assert.equal(upstream.requests.length, 1);
    assert.equal(upstream.requests[0]?.headers.authorization, `Bearer ${token}`);
    assert.match(revoked?.stdout ?? "", /HTTP 403/);

    // `down` ran last: nothing of the stack is left, its Redis included.
    assert.equal(steps.at(-1)?.command, "sigilum down");
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), `pid ${pid} is gone`);
    const probe = new Redis(redisUrl, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    probe.on("error", () => undefined);
    await assert.rejects(probe.connect());
    probe.disconnect();
  });
});
