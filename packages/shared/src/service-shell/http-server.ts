import { createServer, type RequestListener, type Server, type ServerOptions } from "node:http";
import { answerClientErrors } from "../client-error.ts";

/** An HTTP server whose malformed, oversized and slow requests get the JSON envelope (client-error.ts). */
export function createServiceServer(options: ServerOptions, handler: RequestListener): Server {
  const server = createServer(options, handler);
  answerClientErrors(server);
  return server;
}

/** The path of a request target, without its query. */
export function requestPath(url: string | undefined): string {
  const target = url ?? "/";
  const q = target.indexOf("?");
  return q === -1 ? target : target.slice(0, q);
}
