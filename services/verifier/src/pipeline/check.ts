import type { IncomingMessage } from "node:http";
import type { TrustedProxies } from "@sigilum-gw/shared/client-ip";
import type { HostAllowlist } from "@sigilum-gw/shared/host-allowlist";
import type { HeaderInput, SigilumVerifier, VerifiedIdentity } from "@sigilum-gw/shared/http-signatures";
import type { NonceStore } from "@sigilum-gw/shared/replay";
import type { ReplayEpoch } from "@sigilum-gw/shared/replay-epoch";
import type { Stage } from "@sigilum-gw/shared/stage";
import type { ClaimsCache } from "../claims/cache.ts";
import type { ClaimSubmitter } from "../claims/submissions.ts";
import type { ClaimRequiredContext } from "./answer.ts";

/** What flows through the check pipeline (run.ts), stage by stage, and what every stage may use. */

/** The check request as data, read from the HTTP request before any stage runs. */
export interface CheckRequest {
  /** The request stream, read by the admission stage only (the buffered body Envoy forwards). */
  stream: IncomingMessage;
  /** Upper-cased. */
  method: string;
  /** Request target with the `/check` prefix removed (path + optional query, still encoded). */
  target: string;
  host: string | undefined;
  forwardedProto: string | undefined;
  headers: HeaderInput;
  /** Whether the peer is a trusted proxy (its x-forwarded-* count). */
  peerTrusted: boolean;
  clientIp: string;
}

/** Admitted: within the limits, body read. */
export interface Admitted {
  request: CheckRequest;
  body: Buffer | null;
}

/** Routed: the connection (service) the claim is checked against. */
export interface Routed extends Admitted {
  service: string;
}

/** Signed: the agent's verified identity; carried unchanged through replay and claims. */
export interface Signed {
  service: string;
  clientIp: string;
  identity: VerifiedIdentity;
}

/** The allow answer's facts; identity null for an unsigned request under the development bypass. */
export interface Allowed {
  service: string;
  clientIp: string;
  identity: VerifiedIdentity | null;
}

/** Who was refused, for the log line, and the claim-required answer's context. */
export interface CheckDetail {
  service?: string;
  identity?: VerifiedIdentity;
  claim?: ClaimRequiredContext;
}

export interface CheckContext {
  /** Set while shutting down: new checks are refused (503) so Envoy retries another replica. */
  isClosing(): boolean;
  maxBodyBytes: number;
  verifier: SigilumVerifier;
  nonces: NonceStore;
  /** When the replay window's data set began: older signatures could be replays it forgot. */
  epoch: ReplayEpoch;
  claims: ClaimsCache;
  submitter: ClaimSubmitter;
  trusted: TrustedProxies;
  publicOrigin: string | undefined;
  /** The Host names agents may sign for (`@target-uri` authority); undefined when publicOrigin fixes it. */
  signedHosts: HostAllowlist | undefined;
  nonceTtlSeconds: number;
  bypass: { enabled: boolean; connections: readonly string[] };
  /**
   * Whether this gateway serves the connection (a service API key for it, or the connection in the shared store).
   * Asked only off the hot path, before any claims lookup, so an unknown id is a plain 404 and never starts feed
   * refreshes (or warnings) for a service that does not exist.
   */
  connectionKnown(service: string): Promise<boolean>;
}

export type CheckStage<I, O> = Stage<I, O, CheckContext, CheckDetail>;
