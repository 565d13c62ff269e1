/** A Kubernetes Secret (v1) holding files; `immutable`: the gateway's keys are never edited in place. */
export function secretManifest(name: string, labels: Record<string, string>, files: Record<string, Buffer>) {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, labels },
    type: "Opaque",
    immutable: true,
    data: Object.fromEntries(Object.entries(files).map(([key, value]) => [key, value.toString("base64")])),
  };
}
