import { parentPort, workerData } from "node:worker_threads";
import { signRequest } from "@sigilum-gw/shared/http-signatures";
import type { SigilumIdentity } from "@sigilum-gw/shared/identity";
import {
  generateLoad,
  type LoadProgress,
  type LoadResult,
  type LoadRun,
  requestId,
  serializeGet,
} from "./load.ts";

/**
 * The soak's traffic, in a thread of its own so that signing and sending never compete with the harness (relays,
 * samplers) on one event loop: the load generator with each request signed when it is sent (a soak is too long
 * for requests signed up front: their `created` would fall out of the verifier's window).
 */

export interface SoakLoadJob {
  run: LoadRun;
  identity: SigilumIdentity;
  /** host:port of the gateway (Envoy's place), also the signed authority. */
  host: string;
  /** Each request goes to `${pathPrefix}/${index}`. */
  pathPrefix: string;
}

export type SoakLoadMessage =
  | { kind: "progress"; progress: LoadProgress }
  | { kind: "result"; result: LoadResult };

const job = workerData as SoakLoadJob;
const send = (message: SoakLoadMessage) => parentPort?.postMessage(message);

const signedGet = (index: number): Buffer => {
  const path = `${job.pathPrefix}/${index}`;
  const signed = signRequest(job.identity, { url: `http://${job.host}${path}`, method: "GET" });
  return serializeGet(path, { host: job.host, "x-request-id": requestId(), ...signed.headers });
};

const result = await generateLoad(job.run, signedGet, {
  everyMs: 1000,
  report: (progress) => send({ kind: "progress", progress }),
});
send({ kind: "result", result });
