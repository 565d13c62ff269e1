import { randomUUID } from "node:crypto";
import type { Queryable } from "../db/db.ts";
import { int, iso } from "../db/values.ts";

export type ClaimStatus = "pending" | "approved" | "rejected" | "revoked" | "expired";
export const CLAIM_STATUSES = ["pending", "approved", "rejected", "revoked", "expired"] as const;

export interface ClaimRow {
  namespace: string;
  service_id: string;
  service: string;
  public_key: string;
  claim_id: string;
  agent_ip: string;
  status: ClaimStatus;
  subject: string | null;
  agent_id: string | null;
  agent_name: string | null;
  created_at: Date;
  approved_at: Date | null;
  revoked_at: Date | null;
  approval_tx_hash: string | null;
  revocation_tx_hash: string | null;
  [k: string]: unknown;
}

/** `cl_` + the first 24 hex characters of a dash-less UUID. */
export function newClaimId(): string {
  return `cl_${randomUUID().replaceAll("-", "").slice(0, 24)}`;
}

export function presentClaim(row: ClaimRow) {
  return {
    claim_id: row.claim_id,
    namespace: row.namespace,
    service: row.service,
    public_key: row.public_key,
    agent_ip: row.agent_ip,
    subject: row.subject,
    agent_id: row.agent_id,
    agent_name: row.agent_name,
    status: row.status,
    created_at: iso(row.created_at),
    approved_at: iso(row.approved_at),
    revoked_at: iso(row.revoked_at),
  };
}

export function presentClaimDetail(row: ClaimRow) {
  return {
    ...presentClaim(row),
    service_id: row.service_id,
    approval_tx_hash: row.approval_tx_hash,
    revocation_tx_hash: row.revocation_tx_hash,
  };
}

/** Locks the namespace owner row: every claim decision for a namespace runs under this lock. */
export async function lockNamespace(tx: Queryable, namespace: string) {
  const { rows } = await tx.query<{ id: string; settings: unknown }>(
    "SELECT id, settings FROM users WHERE namespace = $1 FOR UPDATE",
    [namespace],
  );
  return rows[0];
}

export interface NamespaceCounts {
  approvedForService: number;
  connectedServices: number;
  pending: number;
}

export async function namespaceCounts(
  tx: Queryable,
  namespace: string,
  serviceId: string,
): Promise<NamespaceCounts> {
  const { rows } = await tx.query<{ a: unknown; c: unknown; p: unknown }>(
    `SELECT count(*) FILTER (WHERE status = 'approved' AND service_id = $2) AS a,
            count(DISTINCT service_id) FILTER (WHERE status = 'approved') AS c,
            count(*) FILTER (WHERE status = 'pending') AS p
       FROM authorizations WHERE namespace = $1`,
    [namespace, serviceId],
  );
  const r = rows[0];
  return { approvedForService: int(r?.a), connectedServices: int(r?.c), pending: int(r?.p) };
}
