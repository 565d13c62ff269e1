import { runService } from "@sigilum-gw/shared/service-shell";
import { loadConfig } from "./config.ts";
import { controlPlaneService } from "./server.ts";

await runService({
  name: "control-plane",
  label: "control plane",
  configExitCode: 2,
  loadConfig: () => loadConfig(),
  logLevel: (config) => config.logLevel,
  listenAddressFile: (config) => config.listenAddressFile,
  create: controlPlaneService,
});
