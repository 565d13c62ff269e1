import { EventEmitter, once } from "node:events";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { createSigilumVerifier } from "@sigilum-gw/shared/http-signatures";

/**
 * A fake control plane on loopback with the routes the gateway calls (spec/gateway.md §4.2, §4.4, §4.5): the
 * approved-claims feed page by page, claim submissions and usage events. Like the real one, it answers only calls
 * that carry the service API key and a valid Sigilum signature (the gateway's identity).
 */

export interface RecordedSubmission {
  headers: IncomingMessage["headers"];
  body: Record<string, unknown>;
}

export interface RecordedUsageEvent {
  headers: IncomingMessage["headers"];
  body: Record<string, unknown>;
  /** Namespace of the signature. */
  signer: string;
  /** Status it was answered with. */
  status: number;
  /** The batch post it came in (1, 2, … in arrival order); undefined for a per-event post. */
  batch?: number;
}

/** "error503" answers every call 503, "destroy" drops the connection: an unreachable or failing control plane. */
export type ControlPlaneMode = "ok" | "error503" | "destroy";

export interface ControlPlane {
  url: string;
  /** service → approved (namespace, public_key) pairs */
  approvals: Map<string, { namespace: string; public_key: string }[]>;
  approve(service: string, namespace: string, publicKey: string): void;
  revoke(service: string, namespace: string, publicKey: string): void;
  mode: ControlPlaneMode;
  /** Delay before every answer (slow control plane). */
  delayMs: number;
  /** Largest page the feed returns whatever `limit` asks (paging tests). */
  maxPage: number;
  feedRequests: { service: string; offset: number }[];
  submissions: RecordedSubmission[];
  /** "submission" once each claim submission is recorded (to await it instead of polling). */
  events: EventEmitter<{ submission: [RecordedSubmission] }>;
  /** When set, claim submissions are refused with this status and code (as the real one refuses a namespace mismatch). */
  claimRejection: { status: number; code: string } | undefined;
  usageEvents: RecordedUsageEvent[];
  /** Status to answer usage events with (to test retries). */
  usageStatus: number;
  /**
   * Whether `POST /v1/usage/events/batch` exists (the gateway control plane has it; the reference API answers
   * 404, and the gateway falls back to one post per event). Each event of a batch is recorded in usageEvents.
   */
  batchRoute: boolean;
  /** Batch posts received. */
  usageBatches: number;
  /** Usage posts (batch or per-event) being answered right now, and the most there ever were at once. */
  usageInFlight: number;
  maxUsageInFlight: number;
  /** Why each refused call was refused: a wrong API key or a bad signature. */
  rejected: string[];
  close(): Promise<void>;
}

export async function startControlPlane(options: { apiKey: string }): Promise<ControlPlane> {
  const verifier = createSigilumVerifier({ maxAgeSeconds: 300 });
  let base = "";
  const state: ControlPlane = {
    url: "",
    approvals: new Map(),
    approve(service, namespace, publicKey) {
      state.approvals.set(service, [
        ...(state.approvals.get(service) ?? []),
        { namespace, public_key: publicKey },
      ]);
    },
    revoke(service, namespace, publicKey) {
      const list = state.approvals.get(service) ?? [];
      state.approvals.set(
        service,
        list.filter((c) => !(c.namespace === namespace && c.public_key === publicKey)),
      );
    },
    mode: "ok",
    delayMs: 0,
    maxPage: 500,
    feedRequests: [],
    submissions: [],
    events: new EventEmitter(),
    claimRejection: undefined,
    usageEvents: [],
    usageStatus: 201,
    batchRoute: true,
    usageBatches: 0,
    usageInFlight: 0,
    maxUsageInFlight: 0,
    rejected: [],
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const usage = req.url?.startsWith("/v1/usage/") === true;
    if (usage) {
      state.usageInFlight++;
      state.maxUsageInFlight = Math.max(state.maxUsageInFlight, state.usageInFlight);
      res.once("close", () => state.usageInFlight--);
    }
    if (state.delayMs > 0) await sleep(state.delayMs);
    if (state.mode === "destroy") return void req.socket.destroy();
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(value));
    };
    if (state.mode === "error503") return json(503, { error: "down" });
    if (req.headers.authorization !== `Bearer ${options.apiKey}`) {
      state.rejected.push(`api key: ${req.url}`);
      return json(401, { error: "invalid service api key" });
    }
    const signed = verifier.verify({
      method: req.method ?? "GET",
      targetUri: base + (req.url ?? "/"),
      headers: req.headersDistinct,
      body: body.length ? body : null,
    });
    if (!signed.ok) {
      state.rejected.push(`signature: ${signed.reason}`);
      return json(401, { error: `bad signature: ${signed.reason}` });
    }
    const url = new URL(req.url ?? "/", base);
    if (req.method === "GET" && url.pathname === "/v1/namespaces/claims") {
      const service = url.searchParams.get("service") ?? "";
      const offset = Number(url.searchParams.get("offset") ?? "0");
      const limit = Math.min(Number(url.searchParams.get("limit") ?? "500"), state.maxPage);
      state.feedRequests.push({ service, offset });
      const all = state.approvals.get(service) ?? [];
      const page = all.slice(offset, offset + limit);
      return json(200, {
        claims: page.map((c, i) => ({ claim_id: `cl_${offset + i}`, service, subject: "s", ...c })),
        pagination: { limit, offset, total: all.length, has_more: offset + page.length < all.length },
      });
    }
    if (req.method === "POST" && url.pathname === "/v1/claims") {
      const parsed = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
      const submission = { headers: req.headers, body: parsed };
      state.submissions.push(submission);
      state.events.emit("submission", submission);
      if (state.claimRejection)
        return json(state.claimRejection.status, { error: "refused", code: state.claimRejection.code });
      return json(201, {
        claim_id: `cl_sub_${state.submissions.length}`,
        status: "pending",
        service: parsed.service,
      });
    }
    if (req.method === "POST" && url.pathname === "/v1/usage/events") {
      state.usageEvents.push({
        headers: req.headers,
        body: JSON.parse(body.toString("utf8")) as Record<string, unknown>,
        signer: signed.namespace,
        status: state.usageStatus,
      });
      return json(state.usageStatus, { accepted: state.usageStatus < 300 });
    }
    if (req.method === "POST" && url.pathname === "/v1/usage/events/batch" && state.batchRoute) {
      const { events } = JSON.parse(body.toString("utf8")) as { events: Record<string, unknown>[] };
      const batch = ++state.usageBatches;
      const status = state.usageStatus < 300 ? 201 : state.usageStatus;
      for (const event of events) {
        state.usageEvents.push({
          headers: req.headers,
          body: event,
          signer: signed.namespace,
          status,
          batch,
        });
      }
      if (state.usageStatus >= 300) return json(state.usageStatus, { error: "refused" });
      return json(200, { accepted: events.length, duplicates: 0, rejected: [] });
    }
    json(404, { error: "not found" });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.url = base;
  return state;
}
