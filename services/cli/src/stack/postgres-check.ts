import { connect } from "node:net";

/**
 * Whether the PostgreSQL server of DATABASE_URL accepts TCP connections (a plain "is it running" check before
 * starting anything; credentials and the database itself are checked by the control plane at start-up).
 */
export async function checkPostgresReachable(
  databaseUrl: string,
  timeoutMs = 2000,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    return { ok: false, reason: "not a URL" };
  }
  // A socket directory (`?host=/var/run/postgresql`) cannot be probed over TCP; leave it to the control plane.
  if (url.searchParams.get("host")?.startsWith("/")) return { ok: true };
  const host = url.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1";
  const port = url.port ? Number(url.port) : 5432;
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (result: { ok: true } | { ok: false; reason: string }) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done({ ok: false, reason: "timed out" }));
    socket.once("connect", () => done({ ok: true }));
    socket.once("error", (error: NodeJS.ErrnoException) =>
      done({ ok: false, reason: error.code ?? error.message }),
    );
  });
}
