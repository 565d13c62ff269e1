import { z } from "zod";
import {
  type Env,
  envGroup,
  envInt,
  envJson,
  envString,
  NAMESPACE_FIELD,
  parseConfig,
} from "../../packages/shared/src/config.ts";

/**
 * The bootstrap scripts' environment, parsed once with the shared loader: a bad value stops the script with a
 * ConfigError naming the variable (deploy/bootstrap.ts for compose, deploy/bootstrap-kubernetes.ts for the chart).
 */

const composeEnv = envGroup({
  /** The `secrets` volume. */
  SECRETS_DIR: envString({ default: "/secrets" }),
  /** The `sigilum-home` volume (not $HOME/.sigilum: see loadComposeBootstrapConfig). */
  GATEWAY_SIGILUM_HOME: envString({ default: "/sigilum" }),
  /** Unset: the existing identity's namespace, else "local-owner". */
  GATEWAY_SIGILUM_NAMESPACE: envString(NAMESPACE_FIELD),
  /** Where the bundled PostgreSQL answers (its URL goes into the secrets). */
  POSTGRES_HOST: envString({ default: "postgres" }),
});

export interface ComposeBootstrapConfig {
  secretsDir: string;
  sigilumHome: string;
  namespace: string | undefined;
  postgresHost: string;
}

export function loadComposeBootstrapConfig(env: Env = process.env): ComposeBootstrapConfig {
  // The shared loader defaults GATEWAY_SIGILUM_HOME to $HOME/.sigilum; here the default is the volume's mount.
  const c = parseConfig(composeEnv, { ...env, HOME: undefined });
  return {
    secretsDir: c.SECRETS_DIR,
    sigilumHome: c.GATEWAY_SIGILUM_HOME,
    namespace: c.GATEWAY_SIGILUM_NAMESPACE,
    postgresHost: c.POSTGRES_HOST,
  };
}

/** A Kubernetes object name (RFC 1123 subdomain). */
const OBJECT_NAME = {
  pattern: /^[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?$/,
  expected: "a Kubernetes object name",
};

const kubernetesEnv = envGroup({
  GATEWAY_SIGILUM_NAMESPACE: envString({ ...NAMESPACE_FIELD, required: true }),
  /** The Secret that receives the generated secrets, and the one that receives the gateway identity. */
  GENERATED_OBJECT: envString({ ...OBJECT_NAME, required: true }),
  IDENTITY_OBJECT: envString({ ...OBJECT_NAME, required: true }),
  /** Labels of the created Secrets (the chart's selector labels, as JSON). */
  OBJECT_LABELS: envJson(z.record(z.string(), z.string()), {}, "a JSON object of string labels"),
  /** The pod's memory-backed scratch directory. */
  BOOTSTRAP_DIR: envString({ default: "/tmp/bootstrap" }),
  /** Where Kubernetes mounts the pod's ServiceAccount credentials (tests point it at their own). */
  SERVICE_ACCOUNT_DIR: envString({ default: "/var/run/secrets/kubernetes.io/serviceaccount" }),
  /** Set by Kubernetes in every pod. */
  KUBERNETES_SERVICE_HOST: envString({ required: true }),
  KUBERNETES_SERVICE_PORT: envInt({ default: 443, min: 1, max: 65535 }),
});

export interface KubernetesBootstrapConfig {
  namespace: string;
  generatedObject: string;
  identityObject: string;
  labels: Record<string, string>;
  scratch: string;
  serviceAccountDir: string;
  api: { host: string; port: number };
}

export function loadKubernetesBootstrapConfig(env: Env = process.env): KubernetesBootstrapConfig {
  const c = parseConfig(kubernetesEnv, env);
  return {
    namespace: c.GATEWAY_SIGILUM_NAMESPACE,
    generatedObject: c.GENERATED_OBJECT,
    identityObject: c.IDENTITY_OBJECT,
    labels: c.OBJECT_LABELS,
    scratch: c.BOOTSTRAP_DIR,
    serviceAccountDir: c.SERVICE_ACCOUNT_DIR,
    api: { host: c.KUBERNETES_SERVICE_HOST, port: c.KUBERNETES_SERVICE_PORT },
  };
}
