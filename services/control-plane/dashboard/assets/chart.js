import { h, s } from "./dom.js";

const WIDTH = 720;
const HEIGHT = 220;
const PAD = { top: 12, right: 8, bottom: 30, left: 48 };

/**
 * Bars of calls per time bucket, the failed part of each bar in the error colour. `points` come from
 * /usage/timeline (one per bucket and service); they are summed per bucket here.
 * @param {{bucket: string, from: string, to: string, points: {at: string, total: number, errors: number}[]}} timeline
 */
export function usageChart(timeline) {
  const sizeMs = { minute: 60_000, hour: 3_600_000, day: 86_400_000 }[timeline.bucket];
  const start = Math.floor(Date.parse(timeline.from) / sizeMs) * sizeMs;
  const end = Date.parse(timeline.to);
  const buckets = [];
  for (let t = start; t <= end; t += sizeMs) buckets.push({ t, total: 0, errors: 0 });
  for (const p of timeline.points) {
    const bucket = buckets[Math.round((Date.parse(p.at) - start) / sizeMs)];
    if (!bucket) continue;
    bucket.total += p.total;
    bucket.errors += p.errors;
  }
  const max = Math.max(1, ...buckets.map((b) => b.total));
  const total = buckets.reduce((n, b) => n + b.total, 0);
  const errors = buckets.reduce((n, b) => n + b.errors, 0);
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const barW = plotW / buckets.length;
  const y = (v) => PAD.top + plotH - (v / max) * plotH;
  const label = (t) =>
    timeline.bucket === "minute"
      ? new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
      : new Date(t).toLocaleString([], {
          month: "short",
          day: "numeric",
          ...(timeline.bucket === "hour" ? { hour: "2-digit" } : {}),
        });
  const summary = `${total} ${total === 1 ? "call" : "calls"}, ${errors} failed, ${label(start)} to ${label(end)}`;
  const svg = s(
    "svg",
    {
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      role: "img",
      "aria-label": `Calls per ${timeline.bucket}: ${summary}`,
      class: "chart",
    },
    s("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(0), y2: y(0), class: "axis" }),
    s("text", { x: PAD.left - 6, y: y(max) + 4, "text-anchor": "end", class: "tick" }, String(max)),
    s("text", { x: PAD.left - 6, y: y(0), "text-anchor": "end", class: "tick" }, "0"),
    s("text", { x: PAD.left, y: HEIGHT - 8, class: "tick" }, label(start)),
    s("text", { x: WIDTH - PAD.right, y: HEIGHT - 8, "text-anchor": "end", class: "tick" }, label(end)),
    ...buckets.flatMap((b, i) => {
      if (b.total === 0) return [];
      const x = PAD.left + i * barW + barW * 0.1;
      const w = Math.max(1, barW * 0.8);
      return [
        s(
          "rect",
          { x, width: w, y: y(b.total), height: y(0) - y(b.total), class: "bar", "data-calls": b.total },
          s("title", {}, `${label(b.t)}: ${b.total} calls, ${b.errors} failed`),
        ),
        ...(b.errors > 0
          ? [s("rect", { x, width: w, y: y(b.errors), height: y(0) - y(b.errors), class: "bar-error" })]
          : []),
      ];
    }),
  );
  return h("figure", { class: "chart-box" }, svg, h("figcaption", { class: "muted" }, summary));
}
