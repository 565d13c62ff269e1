import type { Logger } from "@sigilum-gw/shared/logger";
import { createClaimStatusCheck } from "../pipeline/claim-status.ts";
import type { WebSocketRelay } from "../pipeline/websocket.ts";

/**
 * WebSockets admitted earlier are re-checked when a claim changes (again a second later: the verifiers hear the
 * same event and may still have been refreshing), and every 30 s in case an event was missed.
 */
export function startClaimRecheck(deps: {
  websockets: WebSocketRelay;
  verifierUrl: string;
  internalSecret: string;
  logger: Logger;
}): { claimsChanged(connectionId: string): void; stop(): void } {
  const { logger } = deps;
  const claimStillApproved = createClaimStatusCheck(deps.verifierUrl, deps.internalSecret, 5000);
  const recheck = (connectionId?: string) => {
    const { websockets } = deps;
    const ids = connectionId
      ? [connectionId]
      : [...new Set(websockets.sessions().map((s) => s.connectionId))];
    for (const id of ids) {
      websockets
        .revoke(id, (identity) => claimStillApproved(id, identity))
        .then((closed) => {
          if (closed > 0) logger.info({ connection: id, closed }, "websocket sessions closed: claim revoked");
        })
        .catch((err: unknown) => logger.warn({ err, connection: id }, "websocket claim re-check failed"));
    }
  };
  const timer = setInterval(() => recheck(), 30_000);
  timer.unref();
  return {
    claimsChanged(connectionId) {
      recheck(connectionId);
      setTimeout(() => recheck(connectionId), 1000).unref();
    },
    stop: () => clearInterval(timer),
  };
}
