// `linkguard sim --html FILE`: one self-contained page (inline SVG and CSS, no script from the
// network, no fonts): every device's link state over time, the injected faults, and the hub's
// diagnostics on the same time axis, then the report.

import { FleetResult } from "./fleet.js";
import { STATE_HEX, TimelineEntry } from "./timeline.js";

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const ROW = 16;
const LEFT = 90;
const WIDTH = 1100;
const DIAG_COLOR: { [code: string]: string } = {
  "409002": "#d32f2f", "400027": "#ff7043", "404104": "#f9a825", "401003": "#8e24aa", "429001": "#1e88e5", "503": "#1e88e5", "400006": "#6d4c41",
};

function segments(tl: readonly TimelineEntry[], endMs: number): Array<{ from: number; to: number; e: TimelineEntry }> {
  const out: Array<{ from: number; to: number; e: TimelineEntry }> = [];
  for (let i = 0; i < tl.length; i++) {
    const to = i + 1 < tl.length ? tl[i + 1].atMs : endMs;
    if (to > tl[i].atMs || i + 1 === tl.length) out.push({ from: tl[i].atMs, to: Math.max(to, tl[i].atMs), e: tl[i] });
  }
  return out;
}

export function renderHtml(r: FleetResult, meta: { profile: string; engine: string }): string {
  const endMs = Math.max(1, r.runMs + r.drainMs);
  const plotW = WIDTH - LEFT - 10;
  const x = (ms: number): number => LEFT + (Math.max(0, Math.min(endMs, ms)) / endMs) * plotW;
  const devs = r.devices;
  const diagCodes = Array.from(new Set(r.hub.map((h) => h.key))).sort();
  const top = 24;
  const devTop = top;
  const hubTop = devTop + devs.length * ROW + 14;
  const faultTop = hubTop + Math.max(1, diagCodes.length) * ROW + 14;
  const height = faultTop + ROW + 40;
  const svg: string[] = [];
  svg.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="monospace" font-size="11">`);
  // axis: a tick every "nice" seconds
  const stepS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600].find((s) => endMs / 1000 / s <= 15) || 600;
  for (let s = 0; s * 1000 <= endMs; s += stepS) {
    const px = x(s * 1000).toFixed(1);
    svg.push(`<line x1="${px}" y1="${top - 6}" x2="${px}" y2="${height - 30}" stroke="#e0e0e0"/>`);
    svg.push(`<text x="${px}" y="${top - 9}" text-anchor="middle" fill="#666">${s}s</text>`);
  }
  // the end of faults and telemetry
  const runX = x(r.runMs).toFixed(1);
  svg.push(`<line x1="${runX}" y1="${top - 6}" x2="${runX}" y2="${height - 30}" stroke="#000" stroke-dasharray="4 3"/>`);
  svg.push(`<text x="${runX}" y="${height - 18}" text-anchor="middle" fill="#000">drain</text>`);
  devs.forEach((d, i) => {
    const y = devTop + i * ROW;
    svg.push(`<text x="4" y="${y + 11}">${esc(d.id)}</text>`);
    for (const s of segments(d.timeline, endMs)) {
      const x1 = x(s.from);
      const w = Math.max(0.8, x(s.to) - x1);
      const title = `${esc(d.id)} ${(s.from / 1000).toFixed(3)}s–${(s.to / 1000).toFixed(3)}s ${esc(s.e.state)} ${esc(s.e.code)}` +
        (s.e.delayMs !== undefined ? ` wait ${s.e.delayMs} ms` : "") + ` — ${esc(s.e.text)}`;
      svg.push(`<rect x="${x1.toFixed(1)}" y="${y + 2}" width="${w.toFixed(1)}" height="${ROW - 4}" fill="${STATE_HEX[s.e.state] || "#bbb"}"><title>${title}</title></rect>`);
    }
  });
  svg.push(`<text x="4" y="${hubTop - 3}" font-weight="bold">hub diagnostics</text>`);
  diagCodes.forEach((code, i) => {
    const y = hubTop + i * ROW;
    const c = DIAG_COLOR[code.split(" ")[0]] || "#555";
    svg.push(`<text x="4" y="${y + 11}" fill="${c}">${esc(code.split(" ")[0])}</text>`);
    for (const h of r.hub) {
      if (h.key !== code) continue;
      const px = x(h.atMs).toFixed(1);
      svg.push(`<rect x="${px}" y="${y + 2}" width="2" height="${ROW - 4}" fill="${c}"><title>${(h.atMs / 1000).toFixed(3)}s ${esc(h.key)} ${esc(h.deviceId)}${h.why ? " (" + esc(h.why) + ")" : ""}</title></rect>`);
    }
  });
  svg.push(`<text x="4" y="${faultTop + 11}" font-weight="bold">faults</text>`);
  for (const f of r.faults) {
    const px = x(f.atMs).toFixed(1);
    svg.push(`<path d="M${px} ${faultTop + 2} l4 ${ROW - 4} h-8 z" fill="#455a64"><title>${(f.atMs / 1000).toFixed(3)}s ${esc(f.kind)} ${esc(f.deviceId)}</title></path>`);
  }
  svg.push("</svg>");

  const legend = Object.keys(STATE_HEX).map((s) => `<span class="k" style="background:${STATE_HEX[s]}"></span>${s}`).join(" ");
  const diagLegend = diagCodes.map((k) => `<li><b style="color:${DIAG_COLOR[k.split(" ")[0]] || "#555"}">${esc(k)}</b> × ${r.report.hubDiagnostics[k] || 0}</li>`).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>linkguard sim — ${r.report.devices} devices, ${esc(meta.profile)}, seed ${r.report.seed}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:20px;color:#222}
h1{font-size:18px} .k{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:-2px}
pre{background:#f5f5f5;padding:10px;overflow:auto} .wrap{overflow-x:auto;border:1px solid #ddd;padding:6px}
</style></head><body>
<h1>linkguard sim — ${r.report.devices} devices, ${r.report.durationS} s, faults <code>${esc(meta.profile)}</code>, seed ${r.report.seed}, engine ${esc(meta.engine)}</h1>
<p>Hub linger ${r.lingerMs.min}–${r.lingerMs.max} ms; device backoff floor ${r.floorMs} ms. LinkCreationConflicts: <b>${r.report.linkCreationConflicts}</b>,
with an open link: <b>${r.report.conflictsWithOpenLink}</b>; telemetry lost: <b>${r.report.telemetry.lost}</b>. Hover a bar or a mark for details.
The dashed line marks the end of faults and telemetry; after it the devices drain.</p>
<p>${legend}</p>
<div class="wrap">${svg.join("\n")}</div>
<h2>Hub diagnostics</h2><ul>${diagLegend || "<li>none</li>"}</ul>
<h2>Report</h2><pre>${esc(JSON.stringify(r.report, null, 2))}</pre>
</body></html>
`;
}
