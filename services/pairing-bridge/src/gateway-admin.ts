import {
  type CommandFrame,
  type HelloFrame,
  type ResponseFrame,
  SEALED_BOX_ALGORITHM,
} from "@sigilum-gw/shared/pairing-frames";
import { clearSecretFields } from "@sigilum-gw/shared/sealed-fields";
import { z } from "zod";
import type { PairingSettings } from "./config.ts";
import { allowedPath, relayedHeaders } from "./relay-rules.ts";

/** The proxy's admin API as the bridge calls it: relayed commands, and the gateway's public sealing key. */

const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

const pairingKeySchema = z.object({
  public_key: z.base64().length(44),
  algorithm: z.literal(SEALED_BOX_ALGORITHM),
});

export interface GatewayAdmin {
  relay(command: CommandFrame): Promise<ResponseFrame>;
  /** The hello frame: the gateway's public key, or null when the proxy does not publish one. */
  hello(): Promise<HelloFrame>;
}

type Settings = Pick<PairingSettings, "adminUrl" | "adminToken" | "relayTimeoutMs">;

export function createGatewayAdmin(settings: Settings): GatewayAdmin {
  const auth: Record<string, string> = settings.adminToken
    ? { "x-sigilum-admin-token": settings.adminToken }
    : {};
  const answer = (
    command: CommandFrame,
    status: number,
    error: string | null,
    headers: Record<string, string> = {},
    body: string | null = null,
  ): ResponseFrame => ({ type: "response", request_id: command.request_id, status, headers, body, error });

  return {
    async relay(command) {
      const path = allowedPath(command.method, command.path);
      if (!path) return answer(command, 400, "Unsupported relay path or method");
      if (clearSecretFields(command.method, path, command.body).length > 0) {
        return answer(command, 400, "Secret fields must be sealed to the gateway's public key");
      }
      const headers: Record<string, string> = { ...relayedHeaders(command.headers), ...auth };
      if (command.body !== null && !headers["content-type"]) headers["content-type"] = "application/json";
      if (command.body === null) delete headers["content-type"];
      let res: Response;
      let text: string;
      try {
        res = await fetch(settings.adminUrl + path, {
          method: command.method,
          headers,
          body: command.body,
          redirect: "manual",
          signal: AbortSignal.timeout(settings.relayTimeoutMs),
        });
        const declared = Number(res.headers.get("content-length") ?? 0);
        if (declared > MAX_ANSWER_BYTES) throw new Error("answer too large");
        text = await res.text();
        if (Buffer.byteLength(text) > MAX_ANSWER_BYTES) throw new Error("answer too large");
      } catch (err) {
        return answer(command, 502, `Gateway relay fetch failed: ${(err as Error).message}`);
      }
      return answer(command, res.status, null, Object.fromEntries(res.headers), text === "" ? null : text);
    },

    async hello() {
      const none: HelloFrame = { type: "hello", gateway_public_key: null, key_algorithm: null };
      try {
        const res = await fetch(`${settings.adminUrl}/api/admin/pairing-key`, {
          headers: auth,
          signal: AbortSignal.timeout(settings.relayTimeoutMs),
        });
        if (!res.ok) return none;
        const key = pairingKeySchema.safeParse(await res.json());
        if (!key.success) return none;
        return { type: "hello", gateway_public_key: key.data.public_key, key_algorithm: key.data.algorithm };
      } catch {
        return none;
      }
    },
  };
}
