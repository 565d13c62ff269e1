import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFile, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startControlPlane } from "@sigilum-gw/testkit/control-plane";
import { deletePrefix } from "@sigilum-gw/testkit/redis";
import { signRequest } from "../../packages/shared/src/http-signatures.ts";
import { identityFromSeed, initIdentity } from "../../packages/shared/src/identity.ts";
import * as load from "./load.ts";

/**
 * Instructions per decision (callgrind Ir), verifier vs the floor server of verifier-bench.ts: repeatable on a busy
 * machine, where CPU time per request is not. Each server runs under `valgrind --tool=callgrind`; after a warm-up
 * the counters are dumped (zeroed), `--n` signed checks are sent over `--connections` keep-alive connections, and the
 * second dump's total is divided by n. Results and how to read them: docs/decisions.md (verifier, instruction counts).
 *
 * `node tests/bench/callgrind-decisions.ts [--target=verifier|floor|both] [--n=2000] [--warmup=3000]
 * [--connections=16] [--keep=<file>] [--main=<verifier entry>] [--show-refused]`; instead of callgrind,
 * `--syscalls` counts system calls per decision (strace) and `--cpu-prof=<dir>` writes a CPU profile.
 */

const VERIFIER_MAIN =
  load.cliArg("main") ?? fileURLToPath(new URL("../../services/verifier/src/main.ts", import.meta.url));
const BENCH = fileURLToPath(new URL("./verifier-bench.ts", import.meta.url));
const TARGET_URL = "http://127.0.0.1:38100/proxy/bench/v1/items?limit=10";
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/** Under callgrind; plain node for --syscalls, or with --cpu-prof writing a CPU profile there on exit. */
function startServer(args: string[], env: NodeJS.ProcessEnv, out: string): ChildProcess {
  if (process.argv.includes("--syscalls")) {
    return spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "ignore"] });
  }
  const profileDir = load.cliArg("cpu-prof");
  if (profileDir) {
    return spawn(process.execPath, ["--cpu-prof", `--cpu-prof-dir=${profileDir}`, ...args], {
      env,
      stdio: ["ignore", "pipe", "ignore"],
    });
  }
  return spawn("valgrind", ["--tool=callgrind", `--callgrind-out-file=${out}`, process.execPath, ...args], {
    env,
    stdio: ["ignore", "pipe", "ignore"],
  });
}

function portOf(child: ChildProcess, marker: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let partial = "";
    const timer = setTimeout(() => reject(new Error("server did not start")), 300_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      const lines = (partial + chunk.toString("utf8")).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        const match = line.includes(marker) ? /"port":(\d+)/.exec(line) : null;
        if (match) {
          clearTimeout(timer);
          child.stdout?.removeAllListeners("data");
          child.stdout?.resume();
          resolve(Number(match[1]));
        }
      }
    });
    child.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
  });
}

/** Sends `count` requests (built as sent) over `connections` keep-alive sockets, one in flight each; counts non-200 answers. */
async function send(
  port: number,
  count: number,
  request: () => Buffer,
  connections: number,
): Promise<number> {
  let sent = 0;
  let refused = 0;
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const socket = connect(port, "127.0.0.1");
      let buffer = Buffer.alloc(0);
      const sendNext = () => {
        if (sent++ >= count) {
          socket.end();
          return resolve();
        }
        socket.write(request());
      };
      socket.on("connect", sendNext);
      socket.on("error", reject);
      socket.on("data", (chunk: Buffer) => {
        buffer = Buffer.concat([buffer, chunk]);
        for (;;) {
          const end = buffer.indexOf("\r\n\r\n");
          if (end === -1) return;
          const head = buffer.subarray(0, end).toString("latin1");
          const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
          if (buffer.length < end + 4 + length) return;
          if (!head.startsWith("HTTP/1.1 200")) {
            refused++;
            if (process.argv.includes("--show-refused"))
              console.error(buffer.subarray(0, end + 4 + length).toString());
          }
          buffer = buffer.subarray(end + 4 + length);
          sendNext();
        }
      });
    });
  await Promise.all(Array.from({ length: connections }, one));
  return refused;
}

function dumpTotal(pid: number): void {
  execFileSync("callgrind_control", ["--dump", String(pid)], { stdio: "ignore" });
}

/** Total Ir of the newest dump (`<out>.<dump number>`) callgrind wrote. */
async function lastDumpIr(out: string): Promise<number> {
  const dumps = (await readdir(dirname(out)))
    .map((name) => Number(new RegExp(`^${basename(out)}\\.(\\d+)$`).exec(name)?.[1]))
    .filter((n) => Number.isInteger(n));
  const last = `${out}.${Math.max(...dumps)}`;
  // --keep=<file>: the measured dump, for callgrind_annotate.
  const keep = load.cliArg("keep");
  if (keep) await copyFile(last, keep);
  const text = await readFile(last, "utf8");
  return Number(/^(?:summary|totals): (\d+)/m.exec(text)?.[1]);
}

/** System calls per decision, all threads (strace -c attached around the measured requests). */
async function syscalls(
  pid: number,
  port: number,
  o: { n: number; connections: number },
  check: () => Buffer,
): Promise<{ syscallsPerDecision: number; writesPerDecision: number; refused: number }> {
  const out = join(tmpdir(), `callgrind-decisions-strace-${pid}.txt`);
  const strace = spawn("strace", ["-c", "-f", "-o", out, "-p", String(pid)], { stdio: "ignore" });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const refused = await send(port, o.n, check, o.connections);
  strace.kill("SIGINT");
  await new Promise((resolve) => strace.once("exit", resolve));
  const text = await readFile(out, "utf8");
  await rm(out, { force: true });
  const calls = (name: string) =>
    Number(
      new RegExp(`^\\s*\\S+\\s+\\S+\\s+\\S+\\s+(\\d+)\\s+(?:\\d+\\s+)?${name}$`, "m").exec(text)?.[1] ?? 0,
    );
  const total = Number(/^\S+\s+\S+\s+\S+\s+(\d+)\s+(?:\d+\s+)?total$/m.exec(text)?.[1] ?? 0);
  return {
    syscallsPerDecision: total / o.n,
    writesPerDecision: (calls("write") + calls("writev") + calls("pwrite64")) / o.n,
    refused,
  };
}

async function measure(target: "verifier" | "floor", o: { n: number; warmup: number; connections: number }) {
  const seed = randomBytes(32);
  const agent = identityFromSeed("bench-agent", seed);
  const prefix = `bench:${randomBytes(4).toString("hex")}:`;
  const home = await mkdtemp(join(tmpdir(), "callgrind-decisions-"));
  const feed = await startControlPlane({ apiKey: "bench-service-key" });
  const out = join(home, `${target}.cg`);
  let child: ChildProcess | undefined;
  try {
    if (target === "verifier") {
      await initIdentity({ namespace: "gateway-bench", homeDir: home });
      feed.approve("bench", agent.namespace, agent.publicKey);
      child = startServer(
        [VERIFIER_MAIN],
        {
          PATH: process.env.PATH ?? "",
          HOME: process.env.HOME ?? "",
          VERIFIER_ADDR: "127.0.0.1:0",
          REDIS_URL,
          REDIS_PREFIX: prefix,
          SIGILUM_REGISTRY_URL: feed.url,
          SIGILUM_SERVICE_API_KEY: "bench-service-key",
          GATEWAY_SIGILUM_HOME: home,
          GATEWAY_SIGILUM_NAMESPACE: "gateway-bench",
          GATEWAY_INTERNAL_SECRET: randomBytes(32).toString("hex"),
          GATEWAY_LOG_PROXY_REQUESTS: "true",
          GATEWAY_CLAIMS_CACHE_TTL_SECONDS: "300",
          VERIFIER_CLAIMS_PRELOAD_SERVICES: "bench",
          LOG_LEVEL: "info",
          // A run under callgrind can outlast the default 5 minutes' freshness.
          GATEWAY_SIGNATURE_MAX_AGE_SECONDS: "3600",
          // Redis answers take ~50x longer from inside callgrind.
          VERIFIER_REDIS_COMMAND_TIMEOUT_MS: "10000",
        },
        out,
      );
    } else {
      child = startServer(
        [BENCH, "--role=floor", `--redis=${REDIS_URL}`, `--prefix=${prefix}floor:`],
        { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" },
        out,
      );
    }
    const port = await portOf(child, target === "verifier" ? "verifier listening" : "");
    const pid = child.pid as number;
    // Signed as sent: the verifier's replay window refuses signatures older than the window's data set, which a
    // verifier slowed down by callgrind may start only once it runs.
    const check = () =>
      load.envoyCheck(
        "127.0.0.1:38100",
        "/proxy/bench/v1/items?limit=10",
        "198.51.100.9",
        signRequest(agent, { url: TARGET_URL, method: "GET" }).headers,
      );
    const warmRefused = await send(port, o.warmup, check, o.connections);
    if (process.argv.includes("--syscalls"))
      return { target, n: o.n, ...(await syscalls(pid, port, o, check)) };
    if (load.cliArg("cpu-prof")) {
      const refused = await send(port, o.n, check, o.connections);
      return { target, n: o.n, refused, warmRefused };
    }
    dumpTotal(pid);
    const refused = await send(port, o.n, check, o.connections);
    dumpTotal(pid);
    const ir = await lastDumpIr(out);
    return { target, n: o.n, irPerDecision: Math.round(ir / o.n), refused, warmRefused };
  } finally {
    child?.kill("SIGTERM");
    if (child && child.exitCode === null) await new Promise((r) => child?.once("exit", r));
    await feed.close();
    await deletePrefix(prefix, REDIS_URL);
    await rm(home, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const o = {
    n: Number(load.cliArg("n") ?? 2000),
    warmup: Number(load.cliArg("warmup") ?? 3000),
    connections: Number(load.cliArg("connections") ?? 16),
  };
  const which = load.cliArg("target") ?? "both";
  for (const target of ["floor", "verifier"] as const) {
    if (which === target || which === "both") console.log(JSON.stringify(await measure(target, o)));
  }
  process.exit(0);
}
