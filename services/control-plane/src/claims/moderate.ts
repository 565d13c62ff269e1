import type { Db, Queryable } from "../db/db.ts";
import type { ClaimEvents } from "../events/publisher.ts";
import { ApiError, forbidden, notFound } from "../http/errors.ts";
import type { Owner } from "../owners/owners.ts";
import type { ClaimLimits } from "./limits.ts";
import {
  type ClaimRow,
  type ClaimStatus,
  lockNamespace,
  namespaceCounts,
  presentClaimDetail,
} from "./records.ts";

export interface ModerateDeps {
  db: Db;
  events: ClaimEvents;
  limits: ClaimLimits;
}

/** The blockchain audit log (reference §A.12) is not part of this control plane. */
const BLOCKCHAIN_STATUS = "disabled";

const MAX_CLAIM_ID = 128;

async function findClaim(db: Queryable, claimId: string, lock = false): Promise<ClaimRow | undefined> {
  if (claimId.length > MAX_CLAIM_ID) return undefined;
  const { rows } = await db.query<ClaimRow>(
    `SELECT * FROM authorizations WHERE claim_id = $1${lock ? " FOR UPDATE" : ""}`,
    [claimId],
  );
  return rows[0];
}

/** GET /v1/claims/:id: the owner's own claim only (403 for another namespace's), replaced ones included. */
export async function getClaim(db: Queryable, owner: Owner, claimId: string) {
  const row =
    (await findClaim(db, claimId)) ??
    (claimId.length > MAX_CLAIM_ID
      ? undefined
      : (await db.query<ClaimRow>("SELECT * FROM authorization_history WHERE claim_id = $1", [claimId]))
          .rows[0]);
  if (!row) throw notFound("Claim not found");
  if (row.namespace !== owner.namespace) throw forbidden("Access denied: claim belongs to another namespace");
  return presentClaimDetail(row);
}

/**
 * Locks the owner's namespace and the claim, then checks ownership and the required status.
 * 404 when missing or in the wrong status, 403 when it belongs to another namespace.
 */
async function lockOwnClaim(tx: Queryable, owner: Owner, claimId: string, required: ClaimStatus) {
  const notInState = () => notFound(`Claim not found or not ${required}`);
  const peek = await findClaim(tx, claimId);
  if (!peek) throw notInState();
  if (peek.namespace !== owner.namespace)
    throw forbidden("Access denied: claim belongs to another namespace");
  await lockNamespace(tx, owner.namespace);
  const row = await findClaim(tx, claimId, true);
  if (!row || row.namespace !== owner.namespace || row.status !== required) throw notInState();
  return row;
}

export async function approveClaim(deps: ModerateDeps, owner: Owner, claimId: string) {
  const { limits } = deps;
  const out = await deps.db.transaction(async (tx) => {
    const row = await lockOwnClaim(tx, owner, claimId, "pending");
    const counts = await namespaceCounts(tx, row.namespace, row.service_id);
    if (
      counts.approvedForService === 0 &&
      counts.connectedServices >= limits.maxConnectedServicesPerNamespace
    ) {
      throw new ApiError(
        "SERVICE_LIMIT_REACHED",
        `Namespace owner allows up to ${limits.maxConnectedServicesPerNamespace} service connections.`,
        {
          service_limit: limits.maxConnectedServicesPerNamespace,
          services_connected: counts.connectedServices,
        },
      );
    }
    if (counts.approvedForService >= limits.maxApprovedAgentsPerService) {
      throw new ApiError(
        "AGENT_LIMIT_REACHED",
        `Namespace owner allows up to ${limits.maxApprovedAgentsPerService} agents per service.`,
        { agent_limit: limits.maxApprovedAgentsPerService, current: counts.approvedForService },
      );
    }
    await tx.query(
      "UPDATE authorizations SET status = 'approved', approved_at = now(), revoked_at = NULL WHERE claim_id = $1",
      [row.claim_id],
    );
    return { row, approved: counts.approvedForService + 1 };
  });
  await deps.events.claimsChanged(out.row.service);
  return {
    claim_id: out.row.claim_id,
    status: "approved" as const,
    agents_approved: out.approved,
    agents_limit: limits.maxApprovedAgentsPerService,
    blockchain_tx_status: BLOCKCHAIN_STATUS,
  };
}

export async function rejectClaim(deps: ModerateDeps, owner: Owner, claimId: string) {
  const row = await deps.db.transaction(async (tx) => {
    const row = await lockOwnClaim(tx, owner, claimId, "pending");
    await tx.query("UPDATE authorizations SET status = 'rejected' WHERE claim_id = $1", [row.claim_id]);
    return row;
  });
  await deps.events.claimsChanged(row.service);
  return { claim_id: row.claim_id, status: "rejected" as const };
}

export async function revokeClaim(deps: ModerateDeps, owner: Owner, claimId: string) {
  const row = await deps.db.transaction(async (tx) => {
    const row = await lockOwnClaim(tx, owner, claimId, "approved");
    await tx.query("UPDATE authorizations SET status = 'revoked', revoked_at = now() WHERE claim_id = $1", [
      row.claim_id,
    ]);
    return row;
  });
  await deps.events.claimsChanged(row.service);
  return { claim_id: row.claim_id, status: "revoked" as const, blockchain_tx_status: BLOCKCHAIN_STATUS };
}
