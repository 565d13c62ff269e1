import type { IncomingMessage } from "node:http";
import { GatewayError } from "@sigilum-gw/shared/errors";

/**
 * Reads the request body up to `limit` bytes (GATEWAY_MAX_REQUEST_BODY_BYTES). A declared Content-Length over the
 * limit is refused before reading; a chunked body is refused as soon as it crosses the limit.
 * Resolves null when the request has no body.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  if (finishBodyless(req)) return Promise.resolve(null);
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > limit) {
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("aborted", onAborted);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(size === 0 ? null : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = () => {
      cleanup();
      reject(new GatewayError("INVALID_REQUEST", "failed to read request body"));
    };
    const onAborted = onError;
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("aborted", onAborted);
  });
}

/**
 * True when the request has no body framing (no Transfer-Encoding, no or zero Content-Length): Node's parser
 * delivers nothing, so there is nothing to wait for; the stream is resumed so it ends. Lets the hot path skip a
 * promise for the common bodyless request.
 */
export function finishBodyless(req: IncomingMessage): boolean {
  const declared = req.headers["content-length"];
  if (req.headers["transfer-encoding"] !== undefined || (declared !== undefined && declared !== "0"))
    return false;
  if (!req.readableEnded) req.resume();
  return true;
}

function tooLarge(): GatewayError {
  // The rest of the body is not read: close the connection after the answer instead of draining it.
  return new GatewayError("REQUEST_BODY_TOO_LARGE", undefined, { headers: { connection: "close" } });
}
