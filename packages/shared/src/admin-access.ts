import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { isLoopback } from "./client-ip.ts";
import type { ErrorCode } from "./errors.ts";

/** Admin access policy for `/api/admin/*` and `/metrics` (spec §7.1). */

export type AdminAccessMode = "loopback" | "token" | "hybrid";

export interface AdminAccessPolicy {
  enforce: boolean;
  mode: AdminAccessMode;
  token: string;
}

export type AdminAccessDecision =
  | { allowed: true; via: "token" | "loopback" | "open" }
  | { allowed: false; code: ErrorCode };

/** Constant time; hashing first makes the comparison independent of the presented length too. */
export function tokenMatches(presented: string, configured: string): boolean {
  if (configured === "" || presented === "") return false;
  const a = createHash("sha256").update(presented).digest();
  const b = createHash("sha256").update(configured).digest();
  return timingSafeEqual(a, b);
}

function presentedToken(headers: IncomingHttpHeaders): string[] {
  const out: string[] = [];
  const header = headers["x-sigilum-admin-token"];
  if (typeof header === "string" && header.trim() !== "") out.push(header.trim());
  const auth = headers.authorization;
  if (typeof auth === "string" && auth.length > 7 && auth.slice(0, 7).toLowerCase() === "bearer ") {
    out.push(auth.slice(7).trim());
  }
  return out;
}

export function decideAdminAccess(
  policy: AdminAccessPolicy,
  headers: IncomingHttpHeaders,
  clientIp: string,
): AdminAccessDecision {
  if (!policy.enforce) return { allowed: true, via: "open" };
  const configured = policy.token.trim();
  const hasToken = presentedToken(headers).some((t) => tokenMatches(t, configured));
  const loopback = isLoopback(clientIp);
  switch (policy.mode) {
    case "loopback":
      return loopback
        ? { allowed: true, via: "loopback" }
        : { allowed: false, code: "ADMIN_LOOPBACK_REQUIRED" };
    case "token":
      if (configured === "") return { allowed: false, code: "ADMIN_TOKEN_NOT_CONFIGURED" };
      return hasToken ? { allowed: true, via: "token" } : { allowed: false, code: "ADMIN_TOKEN_REQUIRED" };
    default:
      if (hasToken) return { allowed: true, via: "token" };
      if (loopback) return { allowed: true, via: "loopback" };
      return { allowed: false, code: "ADMIN_TOKEN_OR_LOOPBACK_REQUIRED" };
  }
}
