import { CliError } from "../errors.ts";

export interface ListenAddress {
  /** As given to the service (`127.0.0.1:38100`). */
  addr: string;
  host: string;
  port: number;
}

/** The addresses of the local stack, each overridable by the variable the service itself reads. */
export const ADDRESS_DEFAULTS = {
  GATEWAY_ADDR: "127.0.0.1:38100",
  VERIFIER_ADDR: "127.0.0.1:38110",
  PROXY_ADDR: "127.0.0.1:38120",
  USAGE_WORKER_ADDR: "127.0.0.1:38125",
  CONTROL_PLANE_ADDR: "127.0.0.1:8787",
} as const;

export type AddressVariable = keyof typeof ADDRESS_DEFAULTS;

/** `host:port`, `[v6]:port`, `:port` (all interfaces) or a bare port; port 0 = any free port, chosen by the kernel. */
export function parseListenAddress(variable: string, value: string): ListenAddress {
  const text = value.trim();
  const match = /^\d{1,5}$/.test(text)
    ? ["", undefined, "", text]
    : /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]*)):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : Number.NaN;
  if (!match || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new CliError(`${variable}=${JSON.stringify(value)} is not a listen address`, {
      hint: `Use host:port or :port with a port from 0 (any free port) to 65535, e.g. ${variable}=127.0.0.1:${port > 0 && port < 65536 ? port : 38100}`,
    });
  }
  return withPort({ addr: "", host: match[1] ?? match[2] ?? "", port: 0 }, port);
}

export function withPort(address: ListenAddress, port: number): ListenAddress {
  const { host } = address;
  return { addr: host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`, host, port };
}

/** The URL a local client uses to reach a listener (wildcard hosts are reached on loopback). */
export function localUrl(address: ListenAddress): string {
  const wildcard = address.host === "" || address.host === "0.0.0.0" || address.host === "::";
  const host = wildcard ? "127.0.0.1" : address.host.includes(":") ? `[${address.host}]` : address.host;
  return `http://${host}:${address.port}`;
}

export interface StackAddresses {
  gateway: ListenAddress;
  verifier: ListenAddress;
  proxy: ListenAddress;
  usageWorker: ListenAddress;
  controlPlane: ListenAddress;
}

export function stackAddresses(env: NodeJS.ProcessEnv): StackAddresses {
  const read = (name: AddressVariable) =>
    parseListenAddress(name, env[name]?.trim() || ADDRESS_DEFAULTS[name]);
  return {
    gateway: read("GATEWAY_ADDR"),
    verifier: read("VERIFIER_ADDR"),
    proxy: read("PROXY_ADDR"),
    usageWorker: read("USAGE_WORKER_ADDR"),
    controlPlane: read("CONTROL_PLANE_ADDR"),
  };
}
