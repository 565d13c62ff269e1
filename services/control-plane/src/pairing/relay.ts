import { randomUUID } from "node:crypto";
import type { Logger } from "@sigilum-gw/shared/logger";
import { type CommandFrame, commandFrameSchema, type ResponseFrame } from "@sigilum-gw/shared/pairing-frames";
import type { Redis } from "ioredis";
import { z } from "zod";
import { ApiError } from "../http/errors.ts";

/**
 * Routes relayed commands between control-plane replicas through Redis, so the owner's request and the bridge's
 * socket may sit on different replicas (spec §B.5 without the Durable Object):
 *
 * - lease `<prefix>pairing:lease:<session>` = the id of the socket holding the session, with a TTL renewed by the
 *   bridge's heartbeats (a replica that dies leaves no live lease behind);
 * - channel `<prefix>pairing:gw:<session>`: commands and "replaced" notices, heard by the replica holding it;
 * - channel `<prefix>pairing:reply:<replica>`: answers, back to the replica the owner's request waits on.
 *
 * Bodies travel through Redis only as pub/sub messages (never stored), and secret fields inside them are
 * sealed to the gateway's key before they reach the control plane.
 */

export interface GatewaySocket {
  /** Unique per accepted socket. */
  readonly connId: string;
  send(frame: CommandFrame): void;
  close(code: number, reason: string): void;
}

export interface RelayAnswer {
  request_id: string;
  status: number;
  headers: Record<string, string>;
  body: string | null;
  error: string | null;
}

const busMessageSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("replaced"), conn: z.string() }),
  z.object({ kind: z.literal("command"), conn: z.string(), reply_to: z.string(), frame: z.unknown() }),
  z.object({
    kind: z.literal("answer"),
    request_id: z.string(),
    answer: z.unknown().optional(),
    failure: z.string().optional(),
  }),
]);
type BusMessage = z.infer<typeof busMessageSchema>;

// Renews or deletes the lease only while it still names this socket (a newer socket may have taken it).
const RENEW_LUA = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0`;
const RELEASE_LUA = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`;

interface Pending {
  resolve(answer: RelayAnswer): void;
  reject(err: ApiError): void;
  timer: NodeJS.Timeout;
}

export class PairingRelay {
  readonly replicaId = randomUUID();
  private readonly held = new Map<string, GatewaySocket>();
  /** Commands this replica sent to its own sockets: request id → where the answer goes. */
  private readonly inFlight = new Map<string, { conn: string; replyTo: string }>();
  private readonly pending = new Map<string, Pending>();

  private readonly redis: Redis;
  private readonly subscriber: Redis;
  private readonly prefix: string;
  private readonly leaseMs: number;
  private readonly log: Logger;

  constructor(redis: Redis, subscriber: Redis, prefix: string, leaseMs: number, log: Logger) {
    this.redis = redis;
    this.subscriber = subscriber;
    this.prefix = prefix;
    this.leaseMs = leaseMs;
    this.log = log;
    subscriber.on("message", (channel: string, message: string) => this.onMessage(channel, message));
  }

  private leaseKey = (session: string) => `${this.prefix}pairing:lease:${session}`;
  private gatewayChannel = (session: string) => `${this.prefix}pairing:gw:${session}`;
  private replyChannel = (replica: string) => `${this.prefix}pairing:reply:${replica}`;

  async start(): Promise<void> {
    await this.subscriber.subscribe(this.replyChannel(this.replicaId));
  }

  /** Takes the session for this socket; whichever socket held it before (any replica) is closed "replaced". */
  async attach(session: string, socket: GatewaySocket): Promise<void> {
    await this.redis.set(this.leaseKey(session), socket.connId, "PX", this.leaseMs);
    const previous = this.held.get(session);
    this.held.set(session, socket);
    if (previous) previous.close(1000, "replaced");
    await this.redis.publish(
      this.gatewayChannel(session),
      JSON.stringify({ kind: "replaced", conn: socket.connId }),
    );
    await this.subscriber.subscribe(this.gatewayChannel(session));
  }

  /** Heartbeat: false when the lease now names another socket (this one should go). */
  async renew(session: string, socket: GatewaySocket): Promise<boolean> {
    const renewed = await this.redis.eval(RENEW_LUA, 1, this.leaseKey(session), socket.connId, this.leaseMs);
    return renewed === 1;
  }

  async detach(session: string, socket: GatewaySocket): Promise<void> {
    if (this.held.get(session) === socket) {
      this.held.delete(session);
      await this.subscriber.unsubscribe(this.gatewayChannel(session)).catch(() => {});
    }
    await this.redis.eval(RELEASE_LUA, 1, this.leaseKey(session), socket.connId).catch(() => {});
    for (const [requestId, flight] of this.inFlight) {
      if (flight.conn !== socket.connId) continue;
      this.inFlight.delete(requestId);
      void this.publishAnswer(flight.replyTo, {
        kind: "answer",
        request_id: requestId,
        failure: "Gateway disconnected",
      });
    }
  }

  /** A live lease and a replica listening for the session (a crashed holder's lease may outlive it). */
  async isConnected(session: string): Promise<boolean> {
    const [lease, numsub] = await Promise.all([
      this.redis.exists(this.leaseKey(session)),
      this.redis.pubsub("NUMSUB", this.gatewayChannel(session)) as Promise<[string, number]>,
    ]);
    return lease === 1 && Number(numsub[1]) > 0;
  }

  /** The bridge answered a command this replica handed it. */
  answer(socket: GatewaySocket, frame: ResponseFrame): void {
    const flight = this.inFlight.get(frame.request_id);
    if (!flight || flight.conn !== socket.connId) return; // unknown or another socket's id: dropped (§B.4)
    this.inFlight.delete(frame.request_id);
    const { type: _type, ...answer } = frame;
    void this.publishAnswer(flight.replyTo, { kind: "answer", request_id: frame.request_id, answer });
  }

  /** Sends a command to the session's gateway wherever its socket is, and waits for the answer. */
  async command(session: string, frame: CommandFrame, timeoutMs: number): Promise<RelayAnswer> {
    const notConnected = () => new ApiError("GATEWAY_NOT_CONNECTED", "Gateway is not connected");
    const conn = await this.redis.get(this.leaseKey(session));
    if (!conn) throw notConnected();
    const answered = new Promise<RelayAnswer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(frame.request_id);
        reject(relayFailed(`Gateway did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(frame.request_id, { resolve, reject, timer });
    });
    const message: BusMessage = { kind: "command", conn, reply_to: this.replicaId, frame };
    const receivers = await this.redis
      .publish(this.gatewayChannel(session), JSON.stringify(message))
      .catch(() => 0);
    if (receivers === 0) {
      // No replica holds the socket (the lease outlived a crashed holder): nobody will answer.
      const waiter = this.pending.get(frame.request_id);
      if (waiter) clearTimeout(waiter.timer);
      this.pending.delete(frame.request_id);
      throw notConnected();
    }
    return answered;
  }

  private async publishAnswer(replyTo: string, message: BusMessage): Promise<void> {
    try {
      await this.redis.publish(this.replyChannel(replyTo), JSON.stringify(message));
    } catch (err) {
      this.log.warn({ err }, "pairing answer publish failed");
    }
  }

  private settle(requestId: string, outcome: { answer?: unknown; failure?: string }): void {
    const waiter = this.pending.get(requestId);
    if (!waiter) return;
    this.pending.delete(requestId);
    clearTimeout(waiter.timer);
    if (outcome.failure !== undefined) waiter.reject(relayFailed(outcome.failure));
    else waiter.resolve(outcome.answer as RelayAnswer);
  }

  private onMessage(channel: string, raw: string): void {
    let parsed: BusMessage;
    try {
      parsed = busMessageSchema.parse(JSON.parse(raw));
    } catch {
      return;
    }
    if (channel === this.replyChannel(this.replicaId)) {
      if (parsed.kind === "answer") this.settle(parsed.request_id, parsed);
      return;
    }
    const session = channel.slice(this.gatewayChannel("").length);
    const socket = this.held.get(session);
    if (!socket) return;
    if (parsed.kind === "replaced" && parsed.conn !== socket.connId) {
      this.held.delete(session);
      socket.close(1000, "replaced");
    } else if (parsed.kind === "command" && parsed.conn === socket.connId) {
      const frame = commandFrameSchema.safeParse(parsed.frame);
      if (!frame.success) return;
      this.inFlight.set(frame.data.request_id, { conn: socket.connId, replyTo: parsed.reply_to });
      socket.send(frame.data);
    }
  }

  stop(): void {
    this.subscriber.disconnect();
  }

  /** Closes every socket this replica holds (shutdown); bridges reconnect to another replica. */
  closeAll(): void {
    for (const socket of this.held.values()) socket.close(1001, "control plane shutting down");
    this.held.clear();
    for (const [id] of this.pending) this.settle(id, { failure: "Control plane shutting down" });
  }
}

function relayFailed(detail: string): ApiError {
  return new ApiError("GATEWAY_RELAY_FAILED", "Gateway relay command failed", { reason: detail });
}
