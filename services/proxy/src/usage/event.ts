import type { UsageEvent, UsageSink } from "./queue.ts";

/**
 * The one usage event shape for everything forwarded for an identified agent — HTTP requests, WebSocket sessions
 * and MCP calls (runtime and pass-through) — within the control plane's bounds (action ≤ 64 characters, path ≤ 512),
 * so no event is refused there for its length.
 */

const MAX_ACTION = 64;
const MAX_PATH = 512;

/** Who the event is about: the agent the request was authorized for (pipeline/authorize.ts's identity fits). */
export interface UsageIdentity {
  namespace: string;
  subject: string;
  publicKey: string;
  agentId: string | undefined;
}

export interface UsageFacts {
  requestId: string;
  service: string;
  protocol: UsageEvent["protocol"];
  action: string;
  /** Overrides the outcome derived from the status (e.g. `rate_limited`). */
  outcome?: string;
  method: string;
  path: string;
  remoteIp: string;
  status: number;
  durationMs: number;
  responseBytes: number;
}

export function outcomeOfStatus(status: number): string {
  return status < 400 ? "success" : status === 403 ? "forbidden" : "error";
}

export function usageEvent(identity: UsageIdentity, facts: UsageFacts): UsageEvent {
  const event: UsageEvent = {
    event_id: facts.requestId,
    namespace: identity.namespace,
    service: facts.service,
    public_key: identity.publicKey,
    subject: identity.subject,
    protocol: facts.protocol,
    action: facts.action.slice(0, MAX_ACTION),
    outcome: facts.outcome ?? outcomeOfStatus(facts.status),
    response_bytes: facts.responseBytes,
    request_method: facts.method.toUpperCase(),
    request_path: facts.path.slice(0, MAX_PATH),
    remote_ip: facts.remoteIp,
  };
  if (identity.agentId) event.agent_id = identity.agentId;
  if (facts.status >= 100 && facts.status <= 599) event.status_code = facts.status;
  const durationMs = Math.round(facts.durationMs);
  if (durationMs > 0) event.duration_ms = durationMs;
  return event;
}

/** Where a forwarding path sends its events, and how (GATEWAY_USAGE_DURABILITY). */
export interface UsageRecording {
  sink: UsageSink | undefined;
  /** durable: an answer ends only once its event is in Redis, and is cut when it cannot be stored. */
  durable: boolean;
  /** Counts an event that could not be stored durably (`usage_events_dropped_total{reason="not_stored"}`). */
  notStored(): void;
}

/**
 * Records one event as the mode says: buffered → queued in memory, resolves true at once; durable → resolves true
 * once stored, false when it could not be (counted; the caller cuts what it has not ended).
 */
export async function recordUsage(recording: UsageRecording, event: UsageEvent): Promise<boolean> {
  const { sink } = recording;
  if (!sink) return true;
  if (!recording.durable) {
    sink.record(event);
    return true;
  }
  try {
    await sink.recordDurable(event);
    return true;
  } catch {
    recording.notStored();
    return false;
  }
}
