import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { formatListenAddress, type ListenAddress } from "../config/fields.ts";

/**
 * Listens on a configured address. A bind failure names the address and the variable that sets it, because
 * ports 38100-38130 sit inside Linux's ephemeral range and are sometimes taken by an outgoing connection.
 */
export function listenOn(server: Server, address: ListenAddress, variable: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off("listening", onListening);
      const where = formatListenAddress(address);
      const hint = `set ${variable} to another address, e.g. ${variable}=127.0.0.1:0 for any free port`;
      reject(
        new Error(
          err.code === "EADDRINUSE"
            ? `cannot listen on ${where}: address already in use (${hint})`
            : `cannot listen on ${where}: ${err.message} (${hint})`,
        ),
      );
    };
    const onListening = () => {
      server.off("error", onError);
      resolve(server.address() as AddressInfo);
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(address.port, address.host);
  });
}
