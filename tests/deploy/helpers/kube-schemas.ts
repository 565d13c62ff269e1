import type { Manifest } from "./chart.ts";

/**
 * Validates a Kubernetes object against the API's OpenAPI schemas as published in kubernetes-models (core and
 * apps, batch, policy, autoscaling, networking, rbac: its generated validators cover Kubernetes 1.34's API,
 * resource.k8s.io/v1 included) and the CRD schemas of @kubernetes-models/prometheus-operator (ServiceMonitor)
 * and @kubernetes-models/gateway-api (HTTPRoute). Offline: the schemas ship compiled in the packages.
 */

const CRD_PACKAGES: Record<string, string> = {
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
  "gateway.networking.k8s.io": "@kubernetes-models/gateway-api",
};

function modulePath(apiVersion: string): string {
  if (!apiVersion.includes("/")) return `kubernetes-models/${apiVersion}`;
  const group = apiVersion.split("/")[0] as string;
  return `${CRD_PACKAGES[group] ?? "kubernetes-models"}/${apiVersion}`;
}

type ModelClass = new (data: object) => { validate(): void };

/** Throws with the schema's own message when the object is invalid or of an unknown kind. */
export async function validateManifest(manifest: Manifest): Promise<void> {
  const module = (await import(modulePath(manifest.apiVersion))) as Record<string, ModelClass>;
  const Model = module[manifest.kind];
  if (!Model) throw new Error(`${manifest.apiVersion} has no kind ${manifest.kind}`);
  new Model(manifest).validate();
}
