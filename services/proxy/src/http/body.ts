import type { IncomingMessage } from "node:http";
import { GatewayError } from "@sigilum-gw/shared/errors";

/**
 * Reads the request body up to `limit` bytes (GATEWAY_MAX_REQUEST_BODY_BYTES). A declared Content-Length over the
 * limit is refused before reading; a chunked body is refused as soon as it crosses the limit.
 * Resolves null when the request has no body.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  const declared = req.headers["content-length"];
  const chunked = req.headers["transfer-encoding"] !== undefined;
  if (!chunked && (declared === undefined || declared === "0")) {
    // No body framing: Node's parser delivers nothing, so there is nothing to wait for.
    if (req.readableEnded) return Promise.resolve(null);
    req.resume();
    return Promise.resolve(null);
  }
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

function tooLarge(): GatewayError {
  // The rest of the body is not read: close the connection after the answer instead of draining it.
  return new GatewayError("REQUEST_BODY_TOO_LARGE", undefined, { headers: { connection: "close" } });
}
