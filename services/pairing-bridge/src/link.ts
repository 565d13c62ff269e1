import { controlFrameSchema, parseFrame, TERMINAL_PAIRING_CODES } from "@sigilum-gw/shared/pairing-frames";
import WebSocket from "ws";
import { Backoff } from "./backoff.ts";
import type { PairingSettings } from "./config.ts";
import type { GatewayAdmin } from "./gateway-admin.ts";
import type { Reporter } from "./reporter.ts";

/**
 * The outbound WebSocket to the control plane (spec §B.3–B.6): reconnects for ever with exponential backoff and
 * jitter, sends a heartbeat and drops a link whose pongs stop (half-open TCP), relays each command to the proxy,
 * and stops only when the control plane refuses the session for good (expired, unknown, wrong code).
 */

export type LinkState = "connecting" | "connected" | "waiting" | "terminal" | "stopped";

export interface Terminal {
  status: number;
  code: string;
  message: string;
  attempts: number;
}

interface Attempt {
  opened: boolean;
  terminal?: Omit<Terminal, "attempts">;
}

const MAX_FRAME_BYTES = 8 * 1024 * 1024;

export class PairingLink {
  state: LinkState = "connecting";
  connectedSince: number | null = null;
  /** Consecutive attempts that did not open. */
  failures = 0;
  private socket: WebSocket | undefined;
  private wake: (() => void) | undefined;
  private readonly settings: PairingSettings;
  private readonly admin: GatewayAdmin;
  private readonly report: Reporter;
  private readonly backoff: Backoff;

  constructor(settings: PairingSettings, admin: GatewayAdmin, report: Reporter) {
    this.settings = settings;
    this.admin = admin;
    this.report = report;
    this.backoff = new Backoff(settings.reconnectMinMs, settings.reconnectMaxMs);
  }

  /** The connect URL; `redacted` hides the pair code (for output). */
  url(redacted = false): string {
    const url = new URL("/v1/gateway/pairing/connect", this.settings.apiUrl);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("session_id", this.settings.sessionId);
    if (this.settings.namespace) url.searchParams.set("namespace", this.settings.namespace);
    url.searchParams.set("code", redacted ? "***" : this.settings.pairCode);
    return url.toString().replace("code=***", "code=<redacted>");
  }

  /** Runs until the session is terminal (resolves with why) or `stop()` (resolves null). */
  async run(): Promise<Terminal | null> {
    while (this.state !== "stopped") {
      this.state = "connecting";
      const attempt = await this.connectOnce();
      if (this.stopped()) break;
      if (attempt.terminal) {
        this.state = "terminal";
        return { ...attempt.terminal, attempts: this.failures };
      }
      if (attempt.opened) this.backoff.reset();
      const delay = this.backoff.next();
      this.state = "waiting";
      this.report.info(`reconnecting in ${delay}ms (attempt ${this.failures + 1})`, {
        delay_ms: delay,
        attempt: this.failures + 1,
      });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return null;
  }

  private stopped(): boolean {
    return this.state === "stopped";
  }

  stop(): void {
    this.state = "stopped";
    this.socket?.close(1000, "shutdown");
    this.wake?.();
  }

  private connectOnce(): Promise<Attempt> {
    return new Promise<Attempt>((resolve) => {
      let opened = false;
      let terminal: Attempt["terminal"];
      let refused = false;
      const ws = new WebSocket(this.url(), {
        handshakeTimeout: this.settings.connectTimeoutMs,
        maxPayload: MAX_FRAME_BYTES,
        followRedirects: false,
      });
      this.socket = ws;
      let heartbeat: NodeJS.Timeout | undefined;
      let awaitingPong = 0;

      ws.on("unexpected-response", (_req, res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          if (text.length < 4096) text += chunk;
        });
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          const code = refusalCode(text);
          if ((status === 403 || status === 404 || status === 410) && code) {
            terminal = { status, code, message: refusalMessage(text) };
          } else {
            this.report.warn(`websocket refused (HTTP ${status}${code ? ` ${code}` : ""}), will retry`, {
              status,
            });
          }
          refused = true;
          ws.terminate();
        });
      });
      ws.on("open", () => {
        opened = true;
        this.failures = 0;
        this.state = "connected";
        this.connectedSince = Date.now();
        this.report.info(
          `websocket connected (session=${this.settings.sessionId}, namespace=${this.settings.namespace || "-"})`,
          { session_id: this.settings.sessionId },
        );
        void this.admin
          .hello()
          .then((hello) => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify(hello)));
        heartbeat = setInterval(() => {
          // Two heartbeats without a pong: the path is dead even if TCP has not noticed.
          if (awaitingPong >= 2) return ws.terminate();
          awaitingPong++;
          ws.send(JSON.stringify({ type: "ping", ts: Date.now() }));
        }, this.settings.heartbeatMs);
      });
      ws.on("message", (data, isBinary) => {
        if (isBinary) return;
        const frame = parseFrame(controlFrameSchema, data.toString());
        if (!frame) return;
        if (frame.type === "pong") awaitingPong = 0;
        else if (frame.type === "ping") ws.send(JSON.stringify({ type: "pong", ts: Date.now() }));
        else {
          void this.admin.relay(frame).then((answer) => {
            if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(answer));
          });
        }
      });
      ws.on("error", (err) => {
        if (refused || this.state === "stopped") return;
        if (/handshake has timed out/i.test(err.message)) {
          this.report.warn(
            `websocket connect timeout after ${this.settings.connectTimeoutMs}ms (url=${this.url(true)})`,
          );
        } else {
          this.report.warn("websocket error (will retry)", { error: err.message });
        }
      });
      ws.on("close", (code, reason) => {
        clearInterval(heartbeat);
        this.connectedSince = null;
        if (!opened) this.failures++;
        if (opened) this.report.info(`websocket closed (${code}) ${reason.toString()}`, { code });
        resolve(terminal ? { opened, terminal } : { opened });
      });
    });
  }
}

function parseRefusal(text: string): { code?: unknown; error?: unknown } {
  try {
    const json: unknown = JSON.parse(text);
    return typeof json === "object" && json !== null ? json : {};
  } catch {
    return {};
  }
}

function refusalCode(text: string): string | undefined {
  const code = parseRefusal(text).code;
  return typeof code === "string" && (TERMINAL_PAIRING_CODES as readonly string[]).includes(code)
    ? code
    : undefined;
}

function refusalMessage(text: string): string {
  const error = parseRefusal(text).error;
  return typeof error === "string" ? error.slice(0, 200) : "refused";
}
