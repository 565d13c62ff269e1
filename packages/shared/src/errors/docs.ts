import { ERROR_CATALOGUE, ERROR_CODES, type ErrorCode, type ErrorSpec } from "./catalogue.ts";
import {
  CONTROL_PLANE_DOCS_ANCHOR,
  CONTROL_PLANE_ERROR_CODES,
  CONTROL_PLANE_ERRORS,
} from "./control-plane.ts";
import { DOC_SECTIONS, docsAnchorFor, ERROR_DOCS_BASE_URL } from "./envelope.ts";

const CONTROL_PLANE_INTRO =
  `The control plane (\`/v1/*\`) answers with the same envelope (plus \`details\` listing the fields of a ` +
  `\`VALIDATION_ERROR\`); its \`docs_url\` points here (\`#${CONTROL_PLANE_DOCS_ANCHOR}\`) for the codes below, and ` +
  "to the sections above for the codes it shares with the gateway (`NOT_FOUND`, `INTERNAL_ERROR`, `ADMIN_*`).";

function codesIn(anchor: string): ErrorCode[] {
  return ERROR_CODES.filter((code) => docsAnchorFor(code, ERROR_CATALOGUE[code].status) === anchor);
}

/** A Markdown table padded the way the formatter (biome) writes it, so the generated file passes `biome check`. */
function renderTable(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)];
}

/** The text of docs/errors.md, rendered from ERROR_CATALOGUE (deterministic: no dates). */
export function renderErrorDocs(): string {
  const lines: string[] = [
    "# Error codes",
    "",
    "<!-- Generated from packages/shared/src/errors/catalogue.ts by `npm run docs:errors`. Do not edit by hand. -->",
    "",
    "Every error the gateway answers with (verifier, proxy, pairing bridge, control plane) is a JSON envelope:",
    "",
    "```json",
    "{",
    '  "error": "request signature verification failed",',
    '  "code": "AUTH_SIGNATURE_INVALID",',
    '  "request_id": "3f2a9c1e-5b7d-4e08-9a61-0c4d2e8f7b13",',
    '  "timestamp": "2026-01-01T12:00:00.123Z",',
    `  "docs_url": "${ERROR_DOCS_BASE_URL}#auth-errors"`,
    "}",
    "```",
    "",
    "The response also carries `x-request-id` (the same id as `request_id`; quote it when reporting a problem) and",
    "`cache-control: no-store`. The one exception is `AUTH_CLAIM_REQUIRED`, whose body is Markdown meant for the",
    "agent (header `x-sigilum-code: AUTH_CLAIM_REQUIRED`).",
    "",
    "Codes and statuses match the Sigilum gateway, except those marked _(ours)_: new in this implementation, or",
    "(`AUTH_CLAIMS_UNAVAILABLE`) answered with another status.",
    "",
  ];
  const sections: { title: string; codes: string[]; specs: Record<string, ErrorSpec> }[] = [
    ...DOC_SECTIONS.map((s) => ({ title: s.title, codes: codesIn(s.anchor), specs: ERROR_CATALOGUE })),
    { title: "Control plane errors", codes: CONTROL_PLANE_ERROR_CODES, specs: CONTROL_PLANE_ERRORS },
  ];
  for (const section of sections) {
    lines.push(`## ${section.title}`, "");
    if (section.specs === CONTROL_PLANE_ERRORS) lines.push(CONTROL_PLANE_INTRO, "");
    const codes = section.codes;
    const rows = codes.map((code) => {
      const spec = section.specs[code] as ErrorSpec;
      const mark = spec.ours ? " _(ours)_" : "";
      return [
        `[\`${code}\`](#${code.toLowerCase()})${mark}`,
        String(spec.status),
        spec.message.replaceAll("|", "\\|"),
      ];
    });
    lines.push(...renderTable(["Code", "Status", "Message"], rows));
    lines.push("");
    for (const code of codes) {
      const spec = section.specs[code] as ErrorSpec;
      lines.push(`### ${code}`, "");
      lines.push(`**${spec.status}**, \`${spec.message}\``, "");
      lines.push(`- When: ${spec.when}`);
      lines.push(`- What to do: ${spec.remedy}`, "");
    }
  }
  return `${lines.join("\n").trimEnd()}\n`;
}
