import { z } from "zod";

/**
 * The pairing WebSocket's text frames (JSON), control plane ⇄ bridge (spec §B.4), plus `hello`: the bridge's
 * first frame, announcing the gateway's X25519 public key so owners can seal secret fields to it.
 * Frames that do not parse are ignored by both sides.
 */

export const RELAY_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;
export type RelayMethod = (typeof RELAY_METHODS)[number];

const requestId = z.string().min(1).max(128);
const headerMap = z.record(z.string().max(256), z.string().max(8192));

export const commandFrameSchema = z.object({
  type: z.literal("command"),
  request_id: requestId,
  method: z.enum(RELAY_METHODS),
  path: z.string().min(1).max(2048),
  headers: headerMap,
  body: z.string().nullable(),
});
export type CommandFrame = z.infer<typeof commandFrameSchema>;

export const responseFrameSchema = z.object({
  type: z.literal("response"),
  request_id: requestId,
  status: z.number().int().min(100).max(599),
  headers: headerMap,
  body: z.string().nullable(),
  error: z.string().max(2048).nullable(),
});
export type ResponseFrame = z.infer<typeof responseFrameSchema>;

/** Sealed boxes (libsodium `crypto_box_seal`) to this X25519 key: see `sealed-fields.ts`. */
export const SEALED_BOX_ALGORITHM = "x25519-xsalsa20poly1305-sealedbox";

export const helloFrameSchema = z.object({
  type: z.literal("hello"),
  gateway_public_key: z.base64().length(44).nullable(),
  key_algorithm: z.literal(SEALED_BOX_ALGORITHM).nullable(),
});
export type HelloFrame = z.infer<typeof helloFrameSchema>;

export const bridgeFrameSchema = z.discriminatedUnion("type", [
  responseFrameSchema,
  helloFrameSchema,
  z.object({ type: z.literal("ping"), ts: z.number() }),
  z.object({ type: z.literal("pong"), ts: z.number() }),
]);
export type BridgeFrame = z.infer<typeof bridgeFrameSchema>;

export const controlFrameSchema = z.discriminatedUnion("type", [
  commandFrameSchema,
  z.object({ type: z.literal("ping"), ts: z.number() }),
  z.object({ type: z.literal("pong"), ts: z.number() }),
]);
export type ControlFrame = z.infer<typeof controlFrameSchema>;

/** Parses one text frame; null when it is not JSON or not a known frame. */
export function parseFrame<S extends z.ZodType>(schema: S, text: string): z.output<S> | null {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  const parsed = schema.safeParse(json);
  return parsed.success ? parsed.data : null;
}

/** WebSocket handshake refusals (HTTP status + this code in the JSON body) after which a bridge must stop. */
export const TERMINAL_PAIRING_CODES = [
  "PAIR_SESSION_NOT_FOUND",
  "PAIR_SESSION_EXPIRED",
  "PAIR_CODE_INVALID",
  "PAIR_SESSION_LOCKED",
  "NAMESPACE_MISMATCH",
] as const;
