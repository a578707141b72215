// The storm chart: CONNECT attempts reaching the hub per second over virtual time, one line per
// policy, logarithmic in attempts. Self-contained SVG (no scripts, no external fonts or files).

export interface Series { name: string; perSecond: number[]; note?: string }

const COLORS = ["#1b7f3b", "#0b5fa5", "#d62728", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#17becf"];

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

export function stormSvg(series: Series[], o: { admitPerS: number; devices: number; title: string; maxS?: number }): string {
  const W = 960, H = 520, L = 70, R = 250, T = 50, B = 50;
  const pw = W - L - R, ph = H - T - B;
  let maxS = 0;
  let maxY = o.admitPerS;
  for (const s of series) {
    maxS = Math.max(maxS, s.perSecond.length);
    for (const v of s.perSecond) if (v > maxY) maxY = v;
  }
  if (o.maxS !== undefined) maxS = Math.min(maxS, o.maxS);
  maxS = Math.max(10, Math.ceil(maxS / 50) * 50);
  const decades = Math.max(2, Math.ceil(Math.log10(maxY)));
  const x = (t: number) => L + (t / maxS) * pw;
  const y = (v: number) => T + ph - (Math.log10(Math.max(1, v)) / decades) * ph;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${L}" y="24" font-size="15" font-weight="bold">${esc(o.title)}</text>`);
  // grid: decades and every 50 s
  for (let d = 0; d <= decades; d++) {
    const v = Math.pow(10, d);
    out.push(`<line x1="${L}" x2="${L + pw}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`);
    out.push(`<text x="${L - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v.toLocaleString("en-US")}</text>`);
  }
  const step = maxS <= 200 ? 25 : maxS <= 400 ? 50 : 100;
  for (let t = 0; t <= maxS; t += step) {
    out.push(`<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${T}" y2="${T + ph}" stroke="#eee"/>`);
    out.push(`<text x="${x(t).toFixed(1)}" y="${T + ph + 16}" text-anchor="middle">${t}</text>`);
  }
  out.push(`<text x="${L + pw / 2}" y="${H - 10}" text-anchor="middle">virtual seconds after the drop</text>`);
  out.push(`<text transform="translate(16 ${T + ph / 2}) rotate(-90)" text-anchor="middle">CONNECT attempts per second (log)</text>`);
  // the hub's admission rate
  out.push(`<line x1="${L}" x2="${L + pw}" y1="${y(o.admitPerS).toFixed(1)}" y2="${y(o.admitPerS).toFixed(1)}" stroke="#000" stroke-dasharray="6 4"/>`);
  out.push(`<text x="${L + pw - 4}" y="${(y(o.admitPerS) - 5).toFixed(1)}" text-anchor="end">hub admits ${o.admitPerS}/s</text>`);
  out.push(`<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const pts: string[] = [];
    const n = Math.min(s.perSecond.length, maxS);
    for (let t = 0; t < n; t++) pts.push(x(t + 0.5).toFixed(1) + "," + y(s.perSecond[t]).toFixed(1));
    if (pts.length > 0) out.push(`<polyline fill="none" stroke="${c}" stroke-width="${i < 2 ? 2.2 : 1.3}" points="${pts.join(" ")}"/>`);
    const ly = T + 10 + i * 34;
    out.push(`<line x1="${L + pw + 14}" x2="${L + pw + 40}" y1="${ly}" y2="${ly}" stroke="${c}" stroke-width="3"/>`);
    out.push(`<text x="${L + pw + 46}" y="${ly + 4}">${esc(s.name)}</text>`);
    if (s.note) out.push(`<text x="${L + pw + 46}" y="${ly + 18}" fill="#555" font-size="10.5">${esc(s.note)}</text>`);
  });
  out.push(`<text x="${L}" y="${T - 8}" fill="#555">${o.devices.toLocaleString("en-US")} devices dropped at t = 0; median seed shown; attempts counted when the CONNECT reaches the hub</text>`);
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}
