import { z } from "zod";
import { isIpRange } from "../net/ip-ranges.ts";

/** The owner's claim policy, read from `users.settings.policy` (reference semantics for defaults). */
export interface ClaimPolicy {
  autoExpire: boolean;
  maxPendingLimit: boolean;
  autoApproveTrusted: boolean;
  trustedServices: string[];
  autoApproveIP: boolean;
  trustedIPRanges: string[];
}

const strings = (v: unknown): string[] =>
  Array.isArray(v)
    ? v.filter((x): x is string => typeof x === "string" && x.trim() !== "").map((x) => x.trim())
    : [];

export function claimPolicy(settings: unknown): ClaimPolicy {
  const raw = (settings as { policy?: unknown } | null)?.policy;
  const p = raw && typeof raw === "object" && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
  return {
    autoExpire: p.autoExpire !== false,
    maxPendingLimit: p.maxPendingLimit !== false,
    autoApproveTrusted: p.autoApproveTrusted === true,
    trustedServices: strings(p.trustedServices),
    autoApproveIP: p.autoApproveIP === true,
    trustedIPRanges: strings(p.trustedIPRanges),
  };
}

/** What PATCH /v1/auth/settings accepts for `policy`: typed known keys, nothing else. */
export const policySettingsSchema = z
  .object({
    autoExpire: z.boolean().optional(),
    maxPendingLimit: z.boolean().optional(),
    autoApproveTrusted: z.boolean().optional(),
    trustedServices: z.array(z.string().trim().min(1).max(128)).max(100).optional(),
    autoApproveIP: z.boolean().optional(),
    trustedIPRanges: z
      .array(z.string().trim().refine(isIpRange, "must be an IP address or CIDR range"))
      .max(100)
      .optional(),
  })
  .strict();
