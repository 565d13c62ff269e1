import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { access, readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { connect, type Socket } from "node:net";

/**
 * What the benchmarks share: a raw-socket load generator that runs as a child process of the bench script
 * (`--role=load`), the plumbing that starts child processes and reads the port or result they print, and the
 * CPU time of the processes under test from /proc (Linux).
 */

export interface LoadResult {
  requests: number;
  errors: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Answers by HTTP status; "lost" for requests whose connection closed or that were never answered. */
  statuses: Record<string, number>;
  maxMs: number;
}

/**
 * A closed-loop saturation run (every connection sends again as soon as it is answered), or an open-loop run at a
 * fixed rate whose latency counts from the scheduled send time, so a stall is not hidden.
 */
export interface LoadRun {
  port: number;
  mode: "saturate" | "rate";
  seconds: number;
  /** Connections, each with one request in flight (as Envoy's HTTP/1.1 pool). */
  concurrency: number;
  /** Requests per second of a rate run. */
  rate: number;
  /** Requests available to a saturation run (signed ones are built up front). */
  budget: number;
}

export const requestBudget = (run: LoadRun): number =>
  run.mode === "rate" ? Math.ceil(run.rate * run.seconds) + 16 : run.budget;

/** `--name=value` from the command line. */
export const cliArg = (name: string): string | undefined =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

// ------------------------------------------------------------------------------------------ requests

/** One serialized HTTP/1.1 GET with `headers` in order. */
export function serializeGet(target: string, headers: Record<string, string>): Buffer {
  let text = `GET ${target} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(headers)) text += `${name}: ${value}\r\n`;
  return Buffer.from(`${text}\r\n`, "latin1");
}

export const requestId = (): string => randomBytes(16).toString("hex");

/**
 * One Envoy ext_authz check as the verifier receives it: the path prefix before the agent's path, the edge-set
 * forwarded headers, the buffered (empty) body, x-request-id (Envoy always sends one, generate_request_id, so the
 * verifier never mints one) and the agent's own headers.
 */
export function envoyCheck(
  host: string,
  path: string,
  forwardedFor: string,
  agentHeaders: Record<string, string> = {},
): Buffer {
  return serializeGet(`/check${path}`, {
    host,
    "x-forwarded-proto": "http",
    "x-forwarded-for": forwardedFor,
    "x-envoy-auth-partial-body": "false",
    "content-length": "0",
    "x-request-id": requestId(),
    ...agentHeaders,
  });
}

// ------------------------------------------------------------------------------------------ child side

/** Lets the parent know where a role's server listens: a `{"port":N}` line on stdout. */
export function listenAndAnnounce(server: Server): void {
  server.keepAliveTimeout = 65_000;
  // An orderly exit on SIGTERM, so a role run with --cpu-prof writes its profile.
  process.once("SIGTERM", () => process.exit(0));
  server.listen(0, "127.0.0.1", () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
  });
}

/** A bare node:http server answering every request 200 with `body`: the ceiling of any node:http service here. */
export function serveBare(body: string): void {
  const bytes = Buffer.from(body);
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { "content-type": "application/json", "content-length": bytes.length });
    res.end(bytes);
  });
  listenAndAnnounce(server);
}

/**
 * The `--role=load` process: builds the requests of the run given as `--spec`, sends them, prints the LoadResult
 * line and exits. `build` returns one request per send, or a single one that is sent again and again (only unsigned
 * requests can be: a signed one carries a nonce).
 */
export async function serveLoadRole<S extends LoadRun>(
  build: (spec: S, count: number) => Buffer[],
): Promise<never> {
  const spec = JSON.parse(cliArg("spec") ?? "{}") as S;
  const requests = build(spec, requestBudget(spec));
  const result = await generateLoad(
    spec,
    (i) => (requests.length === 1 ? requests[0] : requests[i]) as Buffer,
  );
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

interface Connection {
  socket: Socket;
  buffer: Buffer;
  scheduledAt: number;
  busy: boolean;
}

/** A run ends at most this long after its planned end, whatever is still unanswered (counted as errors). */
const STRAGGLER_MS = 30_000;

/** What a run has done so far (the soak reports it while it runs). */
export interface LoadProgress {
  scheduled: number;
  answered: number;
  failed: number;
  inFlight: number;
}

/**
 * A wrk-like generator: serialized requests (`requestAt(i)` is the i-th one sent; it may sign it just then), one in
 * flight per connection, responses framed by content-length. Much lighter than an HTTP client library, which
 * matters on a small machine where the generator shares the cores with the server it measures.
 */
export async function generateLoad(
  run: LoadRun,
  requestAt: (index: number) => Buffer,
  onProgress?: { everyMs: number; report: (progress: LoadProgress) => void },
): Promise<LoadResult> {
  const budget = requestBudget(run);
  const latencies = new Float64Array(budget);
  const statuses: Record<string, number> = {};
  let done = 0;
  /** Requests whose connection closed before the answer (a server that cut it), counted as errors too. */
  let lost = 0;
  let errors = 0;
  let next = 0;
  const idle: Connection[] = [];
  const queue: { index: number; at: number }[] = [];
  let settle: (() => void) | undefined;
  let endAt = 0;
  let plannedTotal = Number.POSITIVE_INFINITY;

  const dispatch = (conn: Connection, index: number, at: number) => {
    conn.busy = true;
    conn.scheduledAt = at;
    conn.socket.write(requestAt(index));
  };
  const complete = (conn: Connection, status: number) => {
    if (done < latencies.length) latencies[done] = performance.now() - conn.scheduledAt;
    done++;
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (status !== 200) errors++;
    if (run.mode === "saturate") {
      if (performance.now() < endAt && next < budget) dispatch(conn, next++, performance.now());
      else {
        conn.busy = false;
        if (!connections.some((c) => c.busy)) settle?.();
      }
    } else {
      conn.busy = false;
      const waiting = queue.shift();
      if (waiting) dispatch(conn, waiting.index, waiting.at);
      else idle.push(conn);
      if (done + lost === next && next >= plannedTotal) settle?.();
    }
  };
  // A connection the server closed: its request in flight is lost, and it carries no more (a cut answer must not
  // hang the run).
  const onClose = (conn: Connection) => {
    const at = idle.indexOf(conn);
    if (at !== -1) idle.splice(at, 1);
    if (!conn.busy) return;
    conn.busy = false;
    lost++;
    errors++;
    statuses.lost = (statuses.lost ?? 0) + 1;
    if (run.mode === "saturate") {
      if (!connections.some((c) => c.busy)) settle?.();
    } else if (done + lost === next && next >= plannedTotal) settle?.();
  };
  const onData = (conn: Connection, chunk: Buffer) => {
    conn.buffer = conn.buffer.length ? Buffer.concat([conn.buffer, chunk]) : chunk;
    for (;;) {
      const end = conn.buffer.indexOf("\r\n\r\n");
      if (end === -1) return;
      const head = conn.buffer.toString("latin1", 0, end);
      const length = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1];
      const bodyEnd =
        length !== undefined
          ? end + 4 + Number(length)
          : /\r\ntransfer-encoding: *chunked/i.test(head)
            ? chunkedBodyEnd(conn.buffer, end + 4)
            : Number.NaN;
      if (Number.isNaN(bodyEnd)) throw new Error(`response without content-length or chunked body:\n${head}`);
      if (bodyEnd === -1 || conn.buffer.length < bodyEnd) return;
      conn.buffer = conn.buffer.subarray(bodyEnd);
      complete(conn, Number(head.slice(9, 12)));
    }
  };
  const connections: Connection[] = await Promise.all(
    Array.from(
      { length: run.concurrency },
      () =>
        new Promise<Connection>((resolve, reject) => {
          const socket = connect(run.port, "127.0.0.1", () => resolve(conn));
          socket.setNoDelay(true);
          const conn: Connection = { socket, buffer: Buffer.alloc(0), scheduledAt: 0, busy: false };
          socket.on("data", (chunk) => onData(conn, chunk));
          socket.on("error", reject);
          socket.on("close", () => onClose(conn));
        }),
    ),
  );
  const started = performance.now();
  endAt = started + run.seconds * 1000;
  const settled = new Promise<void>((resolve) => {
    settle = resolve;
  });
  if (run.mode === "saturate") {
    for (const conn of connections) if (next < budget) dispatch(conn, next++, performance.now());
  } else {
    idle.push(...connections);
    const interval = 1000 / run.rate;
    plannedTotal = Math.min(budget, Math.floor((run.seconds * 1000) / interval));
    const tick = () => {
      const now = performance.now();
      while (next < plannedTotal && started + next * interval <= now) {
        const at = started + next * interval;
        const conn = idle.pop();
        if (conn) dispatch(conn, next, at);
        else queue.push({ index: next, at });
        next++;
      }
      if (next < plannedTotal) setTimeout(tick, 1);
    };
    tick();
  }
  const straggler = setTimeout(() => settle?.(), run.seconds * 1000 + STRAGGLER_MS);
  const reporter =
    onProgress &&
    setInterval(
      () =>
        onProgress.report({ scheduled: next, answered: done, failed: errors, inFlight: next - done - lost }),
      onProgress.everyMs,
    );
  await settled;
  clearTimeout(straggler);
  clearInterval(reporter);
  const elapsed = (performance.now() - started) / 1000;
  const unanswered = connections.filter((c) => c.busy).length + queue.length;
  for (const conn of connections) {
    conn.busy = false;
    conn.socket.destroy();
  }
  const sorted = latencies.subarray(0, Math.min(done, latencies.length)).sort();
  if (unanswered) statuses.lost = (statuses.lost ?? 0) + unanswered;
  return {
    requests: done + lost + unanswered,
    errors: errors + unanswered,
    rps: done / elapsed,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length ? (sorted[sorted.length - 1] as number) : 0,
    statuses,
  };
}

/** Where a chunked body that starts at `from` ends (past its last chunk, no trailers), or -1 while incomplete. */
function chunkedBodyEnd(buffer: Buffer, from: number): number {
  let at = from;
  for (;;) {
    const lineEnd = buffer.indexOf("\r\n", at);
    if (lineEnd === -1) return -1;
    const size = Number.parseInt(buffer.toString("latin1", at, lineEnd), 16);
    at = lineEnd + 2 + size + 2;
    if (size === 0) return at <= buffer.length ? at : -1;
    if (at > buffer.length) return -1;
  }
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

// ------------------------------------------------------------------------------------------ parent side

/** Whether processes can be pinned to a CPU here (util-linux taskset). */
export function tasksetAvailable(): Promise<boolean> {
  return access("/usr/bin/taskset").then(
    () => true,
    () => false,
  );
}

export interface ChildOptions {
  env?: NodeJS.ProcessEnv;
  /** Start the process under `taskset -c <cpu>`. */
  cpu?: string;
}

/** Node running `args` (stdout piped, stderr shared). */
function spawnNode(args: string[], { env = process.env, cpu }: ChildOptions): ChildProcess {
  const options: SpawnOptions = { env, stdio: ["ignore", "pipe", "inherit"] };
  return cpu
    ? spawn("taskset", ["-c", cpu, process.execPath, ...args], options)
    : spawn(process.execPath, args, options);
}

export interface Listening {
  child: ChildProcess;
  port: number;
}

/**
 * Starts Node with `args` and resolves with the port of the first stdout line that contains `marker` and a
 * `"port":N`, once `listeners` such lines have appeared (cluster workers each print one). Stdout is drained after
 * that, so a process that logs every request never blocks on a full pipe.
 */
export async function spawnListening(
  args: string[],
  options: ChildOptions & { marker?: string; listeners?: number } = {},
): Promise<Listening> {
  const { marker = "", listeners = 1 } = options;
  const child = spawnNode(args, options);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(" ")} did not start`)), 60_000);
    const ports: number[] = [];
    let partial = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      const lines = (partial + chunk.toString("utf8")).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        const match = line.includes(marker) ? /"port":(\d+)/.exec(line) : null;
        if (match) ports.push(Number(match[1]));
      }
      if (ports.length >= listeners) {
        clearTimeout(timer);
        resolve(ports[0] as number);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(" ")} exited with ${code}`));
    });
  });
  child.stdout?.removeAllListeners("data");
  child.stdout?.resume();
  return { child, port };
}

/** Runs one load in a `--role=load` child of `script` and returns what it measured. */
export async function runLoad(script: string, spec: LoadRun, cpu?: string): Promise<LoadResult> {
  const child = spawnNode([script, "--role=load", `--spec=${JSON.stringify(spec)}`], { cpu });
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let buffer = "";
      child.stdout?.on("data", (chunk: Buffer) => {
        buffer += chunk.toString("utf8");
        const newline = buffer.indexOf("\n");
        if (newline !== -1) resolve(buffer.slice(0, newline));
      });
      child.once("exit", (code) => reject(new Error(`load generator exited with ${code}`)));
    });
    return JSON.parse(line) as LoadResult;
  } finally {
    child.kill();
  }
}

/**
 * A saturation run and the CPU microseconds per request each of `pids` spent on it (undefined where /proc could not
 * tell), which gives per-core capacities however the processes share this machine.
 */
export async function saturate(
  script: string,
  spec: Omit<LoadRun, "mode" | "rate">,
  pids: (number | undefined)[] = [],
  cpu?: string,
): Promise<{ saturation: LoadResult; cpuUs: (number | undefined)[] }> {
  const before = await Promise.all(pids.map(cpuSeconds));
  const saturation = await runLoad(script, { ...spec, mode: "saturate", rate: 0 }, cpu);
  const after = await Promise.all(pids.map(cpuSeconds));
  const cpuUs = pids.map((_, i) => {
    const [start, end] = [before[i], after[i]];
    return start !== undefined && end !== undefined ? ((end - start) / saturation.requests) * 1e6 : undefined;
  });
  return { saturation, cpuUs };
}

/** CPU seconds (user + system) used so far by a process and its children (cluster workers). */
export async function cpuSeconds(pid: number | undefined): Promise<number | undefined> {
  if (!pid) return undefined;
  const one = async (p: number) => {
    const stat = await readFile(`/proc/${p}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  };
  try {
    const children = (await readFile(`/proc/${pid}/task/${pid}/children`, "utf8").catch(() => ""))
      .split(" ")
      .filter(Boolean)
      .map(Number);
    const times = await Promise.all([pid, ...children].map(one));
    return times.reduce((a, b) => a + b, 0);
  } catch {
    return undefined;
  }
}

/**
 * SIGTERM and wait for the exit (bounded), so a server run with BENCH_VERIFIER_NODE_ARGS or BENCH_PROXY_NODE_ARGS="--cpu-prof ..." gets to
 * write its profile before the bench exits.
 */
export async function stopChild(child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  await exited;
  clearTimeout(timer);
}

export interface Burst {
  rps: number;
  /** CPU per request of the process under test, microseconds. */
  cpuUs: number;
  /** Printed after the figures (e.g. the shared verifier's CPU). */
  note?: string;
}

/**
 * The paired rounds of an A/B: a warm-up burst each, then `rounds` rounds of one burst each, the order reversed
 * every round; prints each round and the median of the per-round differences (what survives a shared machine).
 */
export async function pairedRounds<P>(
  a: P,
  b: P,
  burst: (p: P, seconds: number) => Promise<Burst>,
  opts: { rounds: number; seconds: number; unit: string },
): Promise<void> {
  await burst(a, 2);
  await burst(b, 2);
  const pairs = await alternate(
    () => burst(a, opts.seconds),
    () => burst(b, opts.seconds),
    opts.rounds,
  );
  const show = (r: Burst) => `${r.cpuUs.toFixed(1)} us (${Math.round(r.rps)}/s${r.note ?? ""})`;
  for (const [round, { a: ra, b: rb }] of pairs.entries()) {
    console.log(`round ${round}: A ${show(ra)}  B ${show(rb)}  B-A ${(rb.cpuUs - ra.cpuUs).toFixed(1)}`);
  }
  const cpuA = pairs.map((p) => p.a.cpuUs);
  const cpuB = pairs.map((p) => p.b.cpuUs);
  const diffs = pairs.map((p) => p.b.cpuUs - p.a.cpuUs);
  console.log(
    `CPU per ${opts.unit}: median A ${median(cpuA).toFixed(1)} us, B ${median(cpuB).toFixed(1)} us; median(B-A) ${median(diffs).toFixed(1)} us; B lower in ${diffs.filter((d) => d < 0).length} of ${opts.rounds} rounds`,
  );
}

/**
 * `rounds` pairs of runs, A then B (order reversed every round), each pair in the same few seconds: sequential 5 s
 * runs half a minute apart are at the mercy of a shared machine's phases (the same proxy build measured 125–285 µs
 * per request within an hour); pairs are not.
 */
export async function alternate<T>(
  a: () => Promise<T>,
  b: () => Promise<T>,
  rounds: number,
): Promise<{ a: T; b: T }[]> {
  const pairs: { a: T; b: T }[] = [];
  for (let round = 0; round < rounds; round++) {
    if (round % 2 === 0) {
      const first = await a();
      pairs.push({ a: first, b: await b() });
    } else {
      const first = await b();
      pairs.push({ a: await a(), b: first });
    }
  }
  return pairs;
}

export const median = (values: number[]): number => {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};
