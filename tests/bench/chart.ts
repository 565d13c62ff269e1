import { createWriteStream } from "node:fs";
import { createRequire } from "node:module";
import * as PImage from "pureimage";
import type { BenchResults, Target } from "./targets.ts";
import { verdict } from "./targets.ts";

/**
 * bench/chart.png, drawn in pure JavaScript (pureimage: canvas API, PNG out; DejaVu Sans from an npm package, so
 * nothing depends on the machine's fonts): left, each component's saturation throughput with its p50/p99; right,
 * each target's ratio to its reference against its limit (green met, red missed, grey not measured).
 */

const W = 1200;
const H = 620;
const FONT = "DejaVu Sans";

interface Bar {
  label: string;
  value: number | undefined;
  detail: string;
}

function components(r: BenchResults): Bar[] {
  const ms = (x: number | undefined) => (x === undefined ? "-" : x.toFixed(1));
  const lat = (s: { p50Ms: number; p99Ms: number } | undefined) =>
    s ? `p50 ${ms(s.p50Ms)} / p99 ${ms(s.p99Ms)} ms` : "";
  const p = r.proxy;
  return [
    {
      label: "bare node:http",
      value: r.verifier.bare.saturation.rps,
      detail: lat(r.verifier.bare.saturation),
    },
    {
      label: "floor (verify + SET NX)",
      value: r.verifier.floor.verifyAndNonce.saturation.rps,
      detail: lat(r.verifier.floor.verifyAndNonce.saturation),
    },
    {
      label: "verifier",
      value: r.verifier.verifier.saturation.rps,
      detail: lat(r.verifier.verifier.saturation),
    },
    ...(r.verifier.sdkReference
      ? [
          {
            label: "reference Sigilum SDK",
            value: r.verifier.sdkReference.saturation.rps,
            detail: lat(r.verifier.sdkReference.saturation),
          },
        ]
      : []),
    { label: "direct to upstream", value: p.direct.saturation.rps, detail: lat(p.direct.saturation) },
    {
      label: "undici forwarder",
      value: p.engines.undici.saturation.rps,
      detail: lat(p.engines.undici.saturation),
    },
    {
      label: "http-proxy-middleware",
      value: p.engines.httpProxyMiddleware.saturation.rps,
      detail: lat(p.engines.httpProxyMiddleware.saturation),
    },
    { label: "proxy alone", value: p.proxy.saturation.rps, detail: lat(p.proxy.saturation) },
    { label: "whole gateway", value: p.gateway?.saturation.rps, detail: lat(p.gateway?.saturation) },
    { label: "usage events stored", value: r.usage.eventsPerSecond, detail: "events/s" },
  ];
}

export async function writeChart(path: string, r: BenchResults, targets: Target[]): Promise<void> {
  const require = createRequire(import.meta.url);
  const font = PImage.registerFont(require.resolve("dejavu-fonts-ttf/ttf/DejaVuSans.ttf"), FONT);
  font.loadSync();
  const img = PImage.make(W, H);
  const ctx = img.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, W, H);
  const text = (s: string, x: number, y: number, size = 13, color = "#222222") => {
    ctx.fillStyle = color;
    ctx.font = `${size}px '${FONT}'`;
    ctx.fillText(s, x, y);
  };
  text(
    `npm run bench, ${r.when} (${r.machine.cpus} CPUs, load ${r.machine.load1 ?? "?"} at start)`,
    20,
    28,
    16,
  );

  // Left: throughput per component.
  const bars = components(r);
  const max = Math.max(...bars.map((b) => b.value ?? 0), 1);
  const left = { x: 190, y: 60, w: 330, row: 50 };
  text("saturation throughput (req/s)", 20, 52, 14);
  bars.forEach((b, i) => {
    const y = left.y + i * left.row;
    text(b.label, 20, y + 16, 12);
    const w = ((b.value ?? 0) / max) * left.w;
    ctx.fillStyle = "#4a7bd0";
    ctx.fillRect(left.x, y + 4, Math.max(w, 1), 16);
    text(
      b.value === undefined ? "-" : Math.round(b.value).toLocaleString("en-US"),
      left.x + w + 6,
      y + 17,
      12,
    );
    text(b.detail, left.x, y + 36, 11, "#666666");
  });

  // Right: each ratio target against its limit (the absolute MCP budgets are in the table and the console).
  const judged = targets.filter((t) => Number.isFinite(t.limit) && !t.absolute);
  const right = { x: 900, y: 60, w: 260, row: 60 };
  text("ratio to the reference (line = limit)", 620, 52, 14);
  judged.forEach((t, i) => {
    const y = right.y + i * right.row;
    // Each row on its own scale: the limits run from 0.1x to 15x.
    const scaleMax = Math.max(t.ratio ?? 0, t.limit, 1) * 1.1;
    text(t.name.length > 40 ? `${t.name.slice(0, 39)}…` : t.name, 620, y + 16, 12);
    text(`${t.comparison} ${t.limit}× ${t.referenceName}`.slice(0, 44), 620, y + 34, 10, "#666666");
    const w = ((t.ratio ?? 0) / scaleMax) * right.w;
    ctx.fillStyle = t.met === undefined ? "#bbbbbb" : t.met ? "#3a9d4a" : "#d04a4a";
    ctx.fillRect(right.x, y + 4, Math.max(w, 1), 16);
    if (t.ratio !== undefined) {
      ctx.fillStyle = "#222222";
      ctx.fillRect(right.x + (t.limit / scaleMax) * right.w, y, 2, 24);
    }
    text(t.ratio === undefined ? verdict(t) : `${t.ratio.toFixed(2)}× ${verdict(t)}`, right.x, y + 40, 11);
  });

  await PImage.encodePNGToStream(img, createWriteStream(path));
}
