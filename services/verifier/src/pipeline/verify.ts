import type { Ed25519Backend } from "@sigilum-gw/shared/ed25519";
import {
  createSigilumVerifier,
  type HeaderInput,
  type SigilumVerifier,
  type VerifyResult,
} from "@sigilum-gw/shared/http-signatures";

/**
 * Stage 2: signature, certificate, content digest and freshness, all delegated to the shared profile verifier
 * (one Ed25519 verify per request; certificate proofs are cached by header value).
 */
export interface VerifyStageOptions {
  maxAgeSeconds: number;
  now?: () => number;
  backend?: Ed25519Backend;
}

export interface VerifyStage {
  verify(input: {
    method: string;
    targetUri: string;
    headers: HeaderInput;
    body: Uint8Array | null;
  }): VerifyResult;
  readonly backendName: string;
}

export function createVerifyStage(options: VerifyStageOptions): VerifyStage {
  const verifier: SigilumVerifier = createSigilumVerifier({
    maxAgeSeconds: options.maxAgeSeconds,
    ...(options.now ? { now: options.now } : {}),
    ...(options.backend ? { backend: options.backend } : {}),
    // The gateway accepts the Go SDK / OpenClaw variant that also signs sigilum-agent-id (spec/gateway.md §2.3).
    allowAgentIdComponent: true,
  });
  return {
    verify: (input) => verifier.verify(input),
    backendName: verifier.backend.name,
  };
}
