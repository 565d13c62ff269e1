import { createLogger } from "@sigilum-gw/shared/logger";
import { loadBridgeConfig } from "./config.ts";
import { createPairingBridge } from "./server.ts";

try {
  const bridge = createPairingBridge(loadBridgeConfig());
  await bridge.start();
  const stop = () => void bridge.stop().then(() => process.exit(0));
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
} catch (error) {
  createLogger("pairing-bridge").fatal(
    { error: error instanceof Error ? error.message : String(error) },
    "pairing bridge failed to start",
  );
  process.exit(1);
}
