import type { AuthorizedIdentity } from "./authorize.ts";

/**
 * Asks the verifier whether an identity admitted earlier is still approved for a connection
 * (`GET /internal/claim-status`, authenticated with the internal secret). Used for long-lived exchanges (open
 * WebSockets) when a claim changes. Only an explicit "approved" keeps a session; a verifier that cannot be reached
 * right now leaves it open until the next check.
 */
export function createClaimStatusCheck(verifierUrl: string, internalSecret: string, timeoutMs: number) {
  const base = verifierUrl.replace(/\/+$/, "");
  return async (connectionId: string, identity: AuthorizedIdentity): Promise<boolean> => {
    const query = new URLSearchParams({
      service: connectionId,
      namespace: identity.namespace,
      public_key: identity.publicKey,
    });
    let response: Response;
    try {
      response = await fetch(`${base}/internal/claim-status?${query}`, {
        headers: { authorization: `Bearer ${internalSecret}` },
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch {
      return true;
    }
    if (!response.ok) return response.status >= 500;
    const body = (await response.json().catch(() => ({}))) as { decision?: unknown };
    return body.decision === "approved";
  };
}
