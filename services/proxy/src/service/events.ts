import type { Logger } from "@sigilum-gw/shared/logger";
import type { Redis } from "ioredis";
import type { McpUpstreams } from "../mcp/upstream.ts";
import type { ConnectionCache } from "../store/cache.ts";
import { RedisEventSubscriber } from "../store/events.ts";

/**
 * What other replicas and the verifiers announce on Redis: store changes refresh the connection cache (and drop a
 * deleted connection's MCP sessions), claim changes re-check the WebSockets of that connection. While the channel
 * is down the cache reads Redis on every request.
 */
export function subscribeToStoreEvents(deps: {
  connection: Redis;
  channel: string;
  cache: ConnectionCache;
  upstreams: McpUpstreams;
  claimsChanged: (connectionId: string) => void;
  logger: Logger;
}): RedisEventSubscriber {
  const { cache, logger } = deps;
  const subscriber = new RedisEventSubscriber(deps.connection, deps.channel);
  subscriber.onEvent((event) => {
    cache.handle(event);
    if (event.type === "connection.deleted") deps.upstreams.forget(event.id);
  });
  subscriber.onClaimsChanged(deps.claimsChanged);
  subscriber.onLiveChange((live) => {
    if (live !== cache.live)
      logger.info(
        { live },
        live
          ? "cache invalidation channel up"
          : "cache invalidation channel down: reading Redis on every request",
      );
    cache.setLive(live);
  });
  subscriber.start().catch((err: unknown) => logger.error({ err }, "events subscription failed"));
  return subscriber;
}
