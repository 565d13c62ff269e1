import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { createIdentity, type SigilumIdentity } from "@sigilum-gw/shared/identity";
import { deletePrefix, REDIS_URL, randomPrefix } from "@sigilum-gw/testkit/redis";
import { loadVerifierConfig } from "../../src/config.ts";
import {
  createVerifierService,
  type VerifierService,
  type VerifierServiceOptions,
} from "../../src/server.ts";

export { deletePrefix, REDIS_URL, randomPrefix };
export const SERVICE_API_KEY = "svc-key-for-tests";

export interface RunningVerifier {
  port: number;
  prefix: string;
  service: VerifierService;
  gateway: SigilumIdentity;
  stop(): Promise<void>;
}

/** Env for a verifier under test: loopback, own Redis prefix, the given feed, quiet logs. */
export function testEnv(
  feedUrl: string,
  prefix: string,
  overrides: Record<string, string> = {},
): Record<string, string> {
  return {
    VERIFIER_ADDR: "127.0.0.1:0",
    REDIS_URL,
    REDIS_PREFIX: prefix,
    SIGILUM_REGISTRY_URL: feedUrl,
    SIGILUM_SERVICE_API_KEY: SERVICE_API_KEY,
    GATEWAY_INTERNAL_SECRET: "test-internal-secret-0123456789abcdef-0123456789",
    GATEWAY_TRUSTED_PROXY_CIDRS: "127.0.0.1/32,::1/128",
    VERIFIER_CLAIMS_COLD_START: "true",
    LOG_LEVEL: "silent",
    GATEWAY_LOG_PROXY_REQUESTS: "false",
    GATEWAY_SHUTDOWN_TIMEOUT_SECONDS: "2",
    ...overrides,
  };
}

export async function startVerifier(
  feedUrl: string,
  overrides: Record<string, string> = {},
  options: VerifierServiceOptions & { prefix?: string } = {},
): Promise<RunningVerifier> {
  const prefix = options.prefix ?? randomPrefix();
  const gateway = options.identity ?? createIdentity("gateway-test");
  const config = loadVerifierConfig(testEnv(feedUrl, prefix, overrides));
  const service = await createVerifierService(config, { ...options, identity: gateway });
  const address: AddressInfo = await service.start();
  return {
    port: address.port,
    prefix,
    service,
    gateway,
    async stop() {
      await service.stop();
      await deletePrefix(prefix);
    },
  };
}

export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs: number,
  stepMs = 25,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return true;
    await sleep(stepMs);
  }
  return predicate();
}
