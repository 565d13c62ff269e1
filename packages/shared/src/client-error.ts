import type { Server } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { type ErrorCode, errorEnvelope } from "./errors.ts";
import { generateRequestId } from "./request-id.ts";

/**
 * Answers on a raw socket, where Node's HTTP layer gives no response object (a request it could not parse,
 * CONNECT, an upgrade nobody serves): the documented JSON envelope, then the connection closes. What the client
 * is still sending is read and discarded first, so the close does not reset the connection before the answer
 * is seen.
 */
export function writeRawError(
  socket: Duplex,
  status: number,
  reason: string,
  code: ErrorCode,
  message: string,
): void {
  if (!socket.writable) return void socket.destroy();
  const body = JSON.stringify(errorEnvelope(code, { requestId: generateRequestId(), message }));
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\ncache-control: no-store\r\n` +
      `connection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  socket.resume();
  setTimeout(() => socket.destroy(), 2000).unref();
}

/** Malformed requests, oversized headers and slow headers get the JSON envelope, not Node's bare 400/431/408. */
export function answerClientErrors(server: Server): void {
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => {
    if (error.code === "HPE_HEADER_OVERFLOW") {
      return writeRawError(
        socket,
        431,
        "Request Header Fields Too Large",
        "REQUEST_HEADER_TOO_LARGE",
        "request headers too large",
      );
    }
    if (error.code === "ERR_HTTP_REQUEST_TIMEOUT") {
      return writeRawError(socket, 408, "Request Timeout", "INVALID_REQUEST", "request timed out");
    }
    writeRawError(socket, 400, "Bad Request", "INVALID_REQUEST", "malformed HTTP request");
  });
}
