import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { writeRawError } from "@sigilum-gw/shared/client-error";
import { sendError } from "@sigilum-gw/shared/errors";
import { CHECK_PATH_PREFIX } from "@sigilum-gw/shared/ext-authz";
import { requestIdFrom } from "@sigilum-gw/shared/request-id";
import { createServiceServer, type OpsRoutes, requestPath } from "@sigilum-gw/shared/service-shell";
import { CLAIM_STATUS_PATH } from "../check/claim-status.ts";

/** The verifier's one HTTP server: the check hot path first, then the proxy's claim-status query, then ops routes. */

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const isCheck = (url: string) =>
  url.startsWith(`${CHECK_PATH_PREFIX}/`) ||
  url === CHECK_PATH_PREFIX ||
  url.startsWith(`${CHECK_PATH_PREFIX}?`);

export function createVerifierServer(routes: {
  check: Handler;
  claimStatus: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  ops: OpsRoutes;
}): Server {
  const server = createServiceServer(
    { maxHeaderSize: 64 * 1024, requestTimeout: 30_000, headersTimeout: 10_000, keepAliveTimeout: 65_000 },
    (req, res) => {
      const url = req.url ?? "";
      if (isCheck(url)) return routes.check(req, res);
      const path = requestPath(url);
      if (path === CLAIM_STATUS_PATH) {
        return void routes.claimStatus(req, res).catch(() => {
          if (!res.headersSent) res.writeHead(503).end();
        });
      }
      const requestId = requestIdFrom(req.headers);
      if (!routes.ops(req, res, path, requestId)) sendError(res, "NOT_FOUND", { requestId });
    },
  );
  // CONNECT and protocol upgrades never reach a handler on their own: answer them instead of dropping the socket.
  server.on("connect", (_req: IncomingMessage, socket: Socket) =>
    writeRawError(socket, 405, "Method Not Allowed", "METHOD_NOT_ALLOWED", "method not allowed"),
  );
  server.on("upgrade", (_req: IncomingMessage, socket: Socket) =>
    writeRawError(
      socket,
      400,
      "Bad Request",
      "INVALID_REQUEST",
      "protocol upgrades are not part of the check contract",
    ),
  );
  return server;
}
