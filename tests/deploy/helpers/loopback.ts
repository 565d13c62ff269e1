/**
 * The values of a loaded service config that point at the machine itself: URLs (http, ws, redis, postgres, …)
 * whose host is a loopback name. Those are the defaults that fit `sigilum up` on one machine; inside a container or
 * a pod, loopback is that container alone, so such a value means the deployment file left a variable the service
 * reads unset, and the service would dial nothing (the pairing bridge once relayed to 127.0.0.1 this way).
 */

const LOOPBACK_HOST = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

function isLoopbackUrl(value: string): boolean {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return false;
  const url = URL.parse(value);
  return url !== null && LOOPBACK_HOST.test(url.hostname);
}

/**
 * Fields that hold URLs the service never dials: browser origins it accepts (an operator's browser on a
 * port-forward is localhost), and the verifier URL, which only the proxy in inline mode calls (behind Envoy,
 * Envoy calls the verifier).
 */
const NOT_DIALLED = new Set(["admin.allowedOrigins", "allowedOrigins", "verifierUrl"]);

/** `path = value` for every loopback URL in `config` (nested objects and arrays walked). */
export function loopbackValues(config: unknown, path = ""): string[] {
  if (NOT_DIALLED.has(path)) return [];
  if (typeof config === "string") return isLoopbackUrl(config) ? [`${path} = ${config}`] : [];
  const join = (key: string | number) => (path === "" ? String(key) : `${path}.${key}`);
  if (Array.isArray(config)) return config.flatMap((item, i) => loopbackValues(item, join(i)));
  if (config && typeof config === "object") {
    return Object.entries(config).flatMap(([key, value]) => loopbackValues(value, join(key)));
  }
  return [];
}
