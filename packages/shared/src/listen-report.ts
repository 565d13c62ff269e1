import { renameSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";

/**
 * Tells a supervisor where this process listens: when `file` (a service's LISTEN_ADDRESS_FILE, listenReportEnv) is
 * set, `{"address", "port"}` is written there (atomically, 0600) once the listener is open. A supervisor that gave the service port 0 ("any free port")
 * learns the port the kernel chose from it instead of picking a free port itself and hoping it stays free.
 */
export function reportListening(address: AddressInfo, file: string | undefined): void {
  if (!file) return;
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify({ address: address.address, port: address.port })}\n`, {
    mode: 0o600,
  });
  renameSync(temp, file);
}
