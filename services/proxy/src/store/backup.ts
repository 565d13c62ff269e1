import { GatewayError } from "@sigilum-gw/shared/errors";
import { z } from "zod";
import { isSafeConnectionId } from "../model/connection/rules.ts";
import { connectionRecordSchema } from "../model/connection/schemas.ts";
import { aad } from "./crypto.ts";
import { parseJson, SealedHashStore } from "./sealed-store.ts";
import { VersionedHash } from "./versioned-hash.ts";

/**
 * Export and restore of the connections and shared credential variables, exactly as stored: metadata in clear
 * (never a secret) and every secret field still sealed with AES-256-GCM under the master key. A backup is
 * therefore useless without GATEWAY_MASTER_KEY, and restoring it needs that same key: every sealed field is
 * opened before anything is written, so a backup from another gateway is refused whole, never half applied.
 */

export const BACKUP_FORMAT = "sigilum-gateway-backup";

const record = z.object({ fields: z.record(z.string(), z.string()) });
export const backupSchema = z.object({
  format: z.literal(BACKUP_FORMAT),
  version: z.literal(1),
  created_at: z.string(),
  connections: z.array(record.extend({ id: z.string() })),
  variables: z.array(record.extend({ key: z.string() })),
});
export type Backup = z.infer<typeof backupSchema>;

export interface RestoreCounts {
  restored: number;
  skipped: number;
}

export class BackupStore extends SealedHashStore {
  async export(now: Date): Promise<Backup> {
    const connections: Backup["connections"] = [];
    for (const id of (await this.redis.smembers(this.keys.connectionIndex)).sort()) {
      const fields = await this.#fields(this.keys.connection(id));
      if (fields) connections.push({ id, fields });
    }
    const variables: Backup["variables"] = [];
    for (const key of (await this.redis.smembers(this.keys.variableIndex)).sort()) {
      const fields = await this.#fields(this.keys.variable(key));
      if (fields) variables.push({ key, fields });
    }
    return { format: BACKUP_FORMAT, version: 1, created_at: now.toISOString(), connections, variables };
  }

  /** `replace`: overwrite records that exist; otherwise they are kept and counted as skipped. */
  async restore(
    backup: Backup,
    replace: boolean,
  ): Promise<{ connections: RestoreCounts; variables: RestoreCounts }> {
    for (const c of backup.connections) this.#checkConnection(c.id, c.fields);
    for (const v of backup.variables)
      this.#checkSealed(v.fields["value"], aad.variable(v.key), `variable ${v.key}`);
    const hash = new VersionedHash(this.redis);
    const write = async (index: string, key: string, member: string, fields: Record<string, string>) => {
      await this.redis.sadd(index, member);
      if (replace) await this.redis.del(key);
      return hash.create(key, fields);
    };
    const connections: RestoreCounts = { restored: 0, skipped: 0 };
    for (const c of backup.connections) {
      const created = await write(this.keys.connectionIndex, this.keys.connection(c.id), c.id, c.fields);
      connections[created ? "restored" : "skipped"]++;
      if (created) await this.events.publish({ type: "connection.changed", id: c.id });
    }
    const variables: RestoreCounts = { restored: 0, skipped: 0 };
    for (const v of backup.variables) {
      const created = await write(this.keys.variableIndex, this.keys.variable(v.key), v.key, v.fields);
      variables[created ? "restored" : "skipped"]++;
      if (created) await this.events.publish({ type: "variable.changed", id: v.key });
    }
    return { connections, variables };
  }

  async #fields(key: string): Promise<Record<string, string> | undefined> {
    const fields = await this.redis.hgetall(key);
    if (fields["meta"] === undefined) return undefined;
    delete fields["rev"];
    return fields;
  }

  #checkConnection(id: string, fields: Record<string, string>): void {
    const meta = connectionRecordSchema.safeParse(parseJson(fields["meta"] ?? ""));
    if (!isSafeConnectionId(id) || !meta.success || meta.data.id !== id) {
      throw new GatewayError(
        "INVALID_REQUEST",
        `backup: connection ${JSON.stringify(id)} is not a valid record`,
      );
    }
    for (const [field, value] of Object.entries(fields)) {
      const version = /^secret:(\d+)$/.exec(field)?.[1];
      if (version !== undefined)
        this.#checkSealed(value, aad.connectionSecret(id, Number(version)), `connection ${id}`);
    }
  }

  #checkSealed(raw: string | undefined, boundTo: string, what: string): void {
    try {
      this.box.open(parseJson(raw ?? ""), boundTo);
    } catch {
      throw new GatewayError(
        "INVALID_REQUEST",
        `backup: the secret of ${what} does not open under this gateway's master key (restore needs the GATEWAY_MASTER_KEY the backup was made with)`,
      );
    }
  }
}
