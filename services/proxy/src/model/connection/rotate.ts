import { badRequest } from "../errors.ts";
import { DAY_MS } from "../time.ts";
import { normalizeSecrets } from "./rules.ts";
import type { RotateConnectionInput } from "./schemas.ts";
import type { ConnectionRecord, SecretMap } from "./types.ts";

/** Rotate (§5.11): merged secrets, a new secret version, the next due date. */
export function applyRotation(
  current: ConnectionRecord,
  currentSecrets: SecretMap,
  input: RotateConnectionInput,
  now: number,
): { record: ConnectionRecord; secrets: SecretMap } {
  const incoming = normalizeSecrets(input.secrets);
  const merged: SecretMap = { ...currentSecrets };
  let changed = false;
  for (const [key, value] of Object.entries(incoming)) {
    if (merged[key] !== value) {
      merged[key] = value;
      changed = true;
    }
  }
  if (!changed) throw badRequest("secrets are required");
  if (current.auth_secret_key !== "" && !(current.auth_secret_key in merged)) {
    throw badRequest(`auth_secret_key "${current.auth_secret_key}" is missing from provided secrets`);
  }
  const record: ConnectionRecord = {
    ...structuredClone(current),
    secret_version: current.secret_version + 1,
    last_rotated_at: now,
    updated_at: now,
    credential_keys: Object.keys(merged).sort(),
    next_rotation_due_at:
      current.rotation_interval_days > 0
        ? now + current.rotation_interval_days * DAY_MS
        : current.next_rotation_due_at,
  };
  return { record, secrets: merged };
}
