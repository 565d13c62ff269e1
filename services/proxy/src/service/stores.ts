import type { Logger } from "@sigilum-gw/shared/logger";
import type { Redis } from "ioredis";
import { CatalogStore } from "../catalog/store.ts";
import type { ProxyConfig } from "../config.ts";
import { BackupStore } from "../store/backup.ts";
import { ConnectionCache } from "../store/cache.ts";
import { ConnectionStore } from "../store/connections.ts";
import { createSecretBox, type SecretBox } from "../store/crypto.ts";
import { RedisEventPublisher } from "../store/events.ts";
import type { ProxyKeys } from "../store/keys.ts";
import { PairingKeyStore } from "../store/pairing-key.ts";
import { VariableStore } from "../store/variables.ts";

/** The proxy's sealed stores on Redis, the connection cache over them, and what the admin API keeps beside them. */
export interface ProxyStores {
  box: SecretBox;
  connections: ConnectionStore;
  variables: VariableStore;
  cache: ConnectionCache;
  catalog: CatalogStore;
  backup: BackupStore;
  pairingKey: PairingKeyStore;
}

export function openProxyStores(
  config: ProxyConfig,
  redis: Redis,
  keys: ProxyKeys,
  logger: Logger,
): ProxyStores {
  const box = createSecretBox({ masterKey: config.masterKey, previousMasterKey: config.previousMasterKey });
  const events = new RedisEventPublisher(redis, keys.events);
  const connections = new ConnectionStore({ redis, keys, box, events });
  const variables = new VariableStore({ redis, keys, box, events });
  if (config.previousMasterKey) {
    Promise.all([connections.reencryptStale(), variables.reencryptStale()])
      .then(([c, v]) =>
        logger.info({ connections: c, variables: v }, "re-sealed secrets under the current master key"),
      )
      .catch((err: unknown) =>
        logger.error({ err }, "re-sealing secrets under the current master key failed"),
      );
  }
  return {
    box,
    connections,
    variables,
    cache: new ConnectionCache({ connections, variables }),
    catalog: new CatalogStore(redis, keys.catalog),
    backup: new BackupStore({ redis, keys, box, events }),
    pairingKey: new PairingKeyStore(redis, keys.pairingKey, box),
  };
}
