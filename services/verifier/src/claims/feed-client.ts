import { envelopeCode, retryableAnswer } from "@sigilum-gw/shared/errors/retryable";
import { signRequest } from "@sigilum-gw/shared/http-signatures";
import type { SigilumIdentity } from "@sigilum-gw/shared/identity";
import { z } from "zod";

/**
 * The control plane's approved-claims feed (spec/gateway.md §4.2): every page of
 * `GET /v1/namespaces/claims?limit=&offset=&service=`, signed with the gateway's own identity and the service API
 * key of that connection.
 */

export interface Approval {
  namespace: string;
  publicKey: string;
}

export interface FeedResult {
  approvals: Approval[];
  truncated: boolean;
  pages: number;
}

export class FeedError extends Error {
  override name = "FeedError";
  /** HTTP status of the failing page, 0 for transport errors. */
  readonly status: number;
  /** A configuration problem (no key, key refused) rather than an outage: retrying will not help. */
  readonly misconfigured: boolean;
  constructor(message: string, status: number, misconfigured = false) {
    super(message);
    this.status = status;
    this.misconfigured = misconfigured;
  }
}

const pageSchema = z.object({
  claims: z.array(
    z
      .object({
        namespace: z.string().optional().nullable(),
        public_key: z.string().optional().nullable(),
      })
      .loose(),
  ),
  pagination: z.object({ has_more: z.boolean().optional() }).loose().optional(),
});

export interface FeedClientOptions {
  registryUrl: string;
  identity: SigilumIdentity;
  /** Bearer key for a connection id ("" = not configured). */
  apiKeyFor: (service: string) => string;
  maxApproved: number;
  timeoutMs: number;
  pageSize?: number;
}

export interface FeedClient {
  fetchApprovals(service: string): Promise<FeedResult>;
}

const MAX_PAGE_BYTES = 8 * 1024 * 1024;

export function createFeedClient(options: FeedClientOptions): FeedClient {
  const base = options.registryUrl.replace(/\/+$/, "");
  const pageSize = options.pageSize ?? 500;

  async function fetchPage(service: string, apiKey: string, offset: number, signal: AbortSignal) {
    // Query keys sorted alphabetically, as the Sigilum gateway sends them.
    const query = new URLSearchParams({ limit: String(pageSize), offset: String(offset), service });
    const signed = signRequest(options.identity, {
      url: `${base}/v1/namespaces/claims?${query}`,
      method: "GET",
    });
    let response: Response;
    try {
      response = await fetch(signed.url, {
        method: "GET",
        headers: { ...signed.headers, authorization: `Bearer ${apiKey}`, accept: "application/json" },
        signal,
      });
    } catch (error) {
      throw new FeedError(`claims lookup unavailable: ${(error as Error).name}`, 0);
    }
    if (response.status >= 500)
      throw new FeedError(`claims lookup unavailable: HTTP ${response.status}`, response.status);
    const text = await response.text();
    // E.g. Redis restarted under the control plane (AUTH_REPLAY_WINDOW_RESET for a few seconds): an outage to wait
    // out (the next refresh signs again), not a refused key.
    if (response.status > 299 && retryableAnswer(response.status, envelopeCode(text)))
      throw new FeedError(`claims lookup unavailable: HTTP ${response.status}`, response.status);
    if (response.status === 401 || response.status === 403)
      throw new FeedError(`claims lookup unauthorized: HTTP ${response.status}`, response.status, true);
    if (response.status < 200 || response.status > 299)
      throw new FeedError(`claims lookup failed: HTTP ${response.status}`, response.status);
    if (text.length > MAX_PAGE_BYTES)
      throw new FeedError("claims lookup failed: page too large", response.status);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new FeedError("claims lookup failed: invalid JSON", response.status);
    }
    const page = pageSchema.safeParse(json);
    if (!page.success)
      throw new FeedError("claims lookup failed: unexpected response shape", response.status);
    return page.data;
  }

  return {
    async fetchApprovals(service) {
      const apiKey = options.apiKeyFor(service);
      if (!apiKey) throw new FeedError(`service API key not configured for service "${service}"`, 0, true);
      const signal = AbortSignal.timeout(options.timeoutMs);
      const seen = new Set<string>();
      const approvals: Approval[] = [];
      let offset = 0;
      let pages = 0;
      for (;;) {
        const page = await fetchPage(service, apiKey, offset, signal);
        pages++;
        for (const claim of page.claims) {
          const namespace = claim.namespace?.trim();
          const publicKey = claim.public_key?.trim();
          if (!namespace || !publicKey) continue;
          const key = `${namespace}\u0000${publicKey}`;
          if (seen.has(key)) continue;
          seen.add(key);
          approvals.push({ namespace, publicKey });
          if (approvals.length >= options.maxApproved) return { approvals, truncated: true, pages };
        }
        if (page.claims.length === 0 || page.pagination?.has_more !== true)
          return { approvals, truncated: false, pages };
        offset += page.claims.length;
      }
    },
  };
}
