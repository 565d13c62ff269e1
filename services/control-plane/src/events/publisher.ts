import { encodeEvent } from "@sigilum-gw/shared/redis-keys";

export interface ClaimEvents {
  /** Tells verifiers to drop their approved-claims cache for a service (slug) at once. */
  claimsChanged(service: string): Promise<void>;
}

export interface Publisher {
  publish(channel: string, message: string): Promise<unknown>;
}

export interface EventLogger {
  warn(obj: object, msg: string): void;
}

/**
 * Publishes `{type:"claims.changed", service, at}` on the events channel. A failed publish is logged,
 * never thrown: the change is committed already, and verifiers still see it when their cache expires.
 */
export function createClaimEvents(publisher: Publisher, channel: string, log: EventLogger): ClaimEvents {
  return {
    async claimsChanged(service) {
      try {
        await publisher.publish(
          channel,
          encodeEvent({ type: "claims.changed", service, source: "control-plane" }),
        );
      } catch (err) {
        log.warn({ err, service }, "claims.changed publish failed");
      }
    },
  };
}

/** With no Redis configured there is no verifier cache to invalidate through it. */
export const noClaimEvents: ClaimEvents = { claimsChanged: async () => {} };
