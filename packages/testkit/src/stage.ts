import { IncomingMessage } from "node:http";
import { Socket } from "node:net";
import type { Result } from "@sigilum-gw/shared/stage";

/** A request's stream as a handler receives it, without HTTP: `headers`, then `body` (when given) and its end. */
export function requestStream(headers: Record<string, string>, body?: Buffer[]): IncomingMessage {
  const stream = new IncomingMessage(new Socket());
  stream.headers = headers;
  stream.rawHeaders = Object.entries(headers).flat();
  if (body) {
    for (const chunk of body) stream.push(chunk);
    stream.push(null);
  }
  return stream;
}

/** The settled result of a stage, and whether it answered synchronously. */
export async function settle<T, D>(
  result: Result<T, D> | Promise<Result<T, D>>,
): Promise<{ sync: boolean; result: Result<T, D> }> {
  return { sync: !(result instanceof Promise), result: await result };
}
