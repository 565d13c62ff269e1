/** One way to run a service process: listen, ops routes, drain, signals and exit codes (service-shell/). */
export * from "./service-shell/drain.ts";
export * from "./service-shell/http-server.ts";
export * from "./service-shell/listen.ts";
export * from "./service-shell/ops-routes.ts";
export * from "./service-shell/ops-server.ts";
export * from "./service-shell/run.ts";
