import { createServer } from "node:net";
import type { ListenAddress } from "../core/addresses.ts";

/** Whether we could listen on the address right now (bind and close at once). */
export function canListen(address: ListenAddress): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ port: address.port, host: address.host || undefined, exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}
