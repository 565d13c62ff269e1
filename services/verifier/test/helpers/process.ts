import { type ServiceProcess, serviceMain, spawnService } from "@sigilum-gw/testkit/process";

/** Runs `node services/verifier/src/main.ts` as its own process and waits for its "listening" line(s). */

export type VerifierProcess = ServiceProcess;

/** Resolves once `listeners` processes (cluster workers) report they listen. */
export function spawnVerifier(
  env: Record<string, string>,
  timeoutMs = 15000,
  listeners = 1,
): Promise<VerifierProcess> {
  return spawnService(
    serviceMain("verifier"),
    "verifier listening",
    { ...env, LOG_LEVEL: env.LOG_LEVEL ?? "info" },
    {
      timeoutMs,
      listeners,
    },
  );
}
