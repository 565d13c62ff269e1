import { readJson, sendJson } from "../http/json.ts";
import { type BackupStore, backupSchema } from "../store/backup.ts";
import type { AdminCall } from "./handlers.ts";

/**
 * `GET /api/admin/backup`: every connection and credential variable, secrets still sealed under the master key.
 * `POST /api/admin/restore[?replace=true]`: writes them back (existing records are kept unless `replace`).
 */

export interface BackupDeps {
  backup: BackupStore;
  maxBodyBytes: number;
  now: () => number;
}

export async function exportBackup(deps: BackupDeps, call: AdminCall): Promise<void> {
  sendJson(call.res, 200, await deps.backup.export(new Date(deps.now())), call.requestId);
}

export async function restoreBackup(deps: BackupDeps, call: AdminCall): Promise<void> {
  const backup = await readJson(call.req, backupSchema, deps.maxBodyBytes);
  const replace = new URL(call.req.url ?? "/", "http://x").searchParams.get("replace") === "true";
  sendJson(call.res, 200, await deps.backup.restore(backup!, replace), call.requestId);
}
