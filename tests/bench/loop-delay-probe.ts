// Loaded into a service with NODE_OPTIONS=--import=<this file> by the soak, for a service that serves no /metrics
// (the control plane): every LOOP_PROBE_INTERVAL_MS (default 10 s) it writes the event-loop delay p99 of that
// interval, in ms, to LOOP_PROBE_FILE and starts a new interval, as prom-client's gauge does on each scrape.
import { writeFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";

const file = process.env.LOOP_PROBE_FILE;
if (file) {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  setInterval(
    () => {
      writeFileSync(file, `${histogram.percentile(99) / 1e6}\n`);
      histogram.reset();
    },
    Number(process.env.LOOP_PROBE_INTERVAL_MS ?? 10_000),
  ).unref();
}
