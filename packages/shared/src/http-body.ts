import type { IncomingMessage } from "node:http";
import { deny, ok, type Result } from "./stage.ts";

/**
 * The one request-body reader: up to `limit` bytes. A declared Content-Length over the limit is refused before
 * reading, a chunked body as soon as it crosses the limit (the rest is not read, so the answer closes the
 * connection). A request without body framing answers synchronously with null (no promise on the hot path), as
 * does an empty body once read.
 */
export function readBody(
  req: IncomingMessage,
  limit: number,
  stage = "body",
): Result<Buffer | null> | Promise<Result<Buffer | null>> {
  if (finishBodyless(req)) return NO_BODY;
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > limit) return tooLarge(stage);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (result: Result<Buffer | null>) => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("aborted", onError);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.pause();
        settle(tooLarge(stage));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () =>
      settle(ok(size === 0 ? null : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    const onError = () =>
      settle(
        deny(stage, "INVALID_REQUEST", {
          message: "failed to read request body",
          headers: { connection: "close" },
        }),
      );
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("aborted", onError);
  });
}

const NO_BODY = ok(null);

/**
 * True when the request has no body framing (no Transfer-Encoding, no or zero Content-Length): Node's parser
 * delivers nothing, so there is nothing to wait for; the stream is resumed so it ends.
 */
export function finishBodyless(req: IncomingMessage): boolean {
  const declared = req.headers["content-length"];
  if (req.headers["transfer-encoding"] !== undefined || (declared !== undefined && declared !== "0"))
    return false;
  if (!req.readableEnded) req.resume();
  return true;
}

function tooLarge(stage: string): Result<never> {
  return deny(stage, "REQUEST_BODY_TOO_LARGE", { headers: { connection: "close" } });
}
