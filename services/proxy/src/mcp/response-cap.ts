import type { FetchLike } from "./endpoint.ts";

/**
 * MCP answers are bounded (spec §8.4: 2 MiB): a server that sends more to a request fails that request instead of
 * filling the gateway's memory. The GET listening stream of a 2025 session is exempt: it lives as long as the
 * session and carries many small messages.
 */

export const MAX_MCP_RESPONSE_BYTES = 2 * 1024 * 1024;

export class ResponseTooLargeError extends Error {
  constructor(limit: number) {
    super(`mcp server response exceeds ${limit} bytes`);
  }
}

/** A stream that passes at most `limit` bytes and errors past them. */
export function cappedStream(body: ReadableStream<Uint8Array>, limit: number): ReadableStream<Uint8Array> {
  let seen = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.byteLength;
        if (seen > limit) controller.error(new ResponseTooLargeError(limit));
        else controller.enqueue(chunk);
      },
    }),
  );
}

export function cappedFetch(base: FetchLike, limit = MAX_MCP_RESPONSE_BYTES): FetchLike {
  return async (url, init) => {
    const response = await base(url, init);
    if ((init?.method ?? "GET").toUpperCase() !== "POST" || response.body === null) return response;
    return new Response(cappedStream(response.body, limit), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}
