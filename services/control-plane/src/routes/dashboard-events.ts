import { Router } from "express";
import { requireOwner } from "../auth/owner-auth.ts";
import type { AppDeps } from "../deps.ts";

const HEARTBEAT_MS = 25_000;

/**
 * `GET /v1/dashboard/events`: server-sent events for the signed-in owner. `claims` says the namespace's claims
 * changed (the page reloads its lists); a comment line every 25 s keeps proxies from closing the stream.
 */
export function dashboardEventsRouter(deps: AppDeps): Router {
  const r = Router();
  r.get("/v1/dashboard/events", async (req, res) => {
    const owner = await requireOwner(req, deps);
    res.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      "X-Accel-Buffering": "no",
    });
    res.write("retry: 3000\n\n");
    deps.eventStreams.add(res);
    const unsubscribe = deps.claimsWatch.subscribe(owner.namespace, () => {
      res.write(`event: claims\ndata: ${JSON.stringify({ at: new Date().toISOString() })}\n\n`);
    });
    const heartbeat = setInterval(() => res.write(": keep-alive\n\n"), HEARTBEAT_MS);
    heartbeat.unref();
    res.on("close", () => {
      clearInterval(heartbeat);
      unsubscribe();
      deps.eventStreams.delete(res);
    });
  });
  return r;
}
