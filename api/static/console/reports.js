// Firstline console: the reports page. Fetches /api/v1/reports/summary for the picked period and draws the
// charts as inline SVG (no libraries), each with a data table under it. Uses console.js's el/api helpers.
"use strict";
(() => {
  const { el, api } = window.FirstlineConsole;
  const T = JSON.parse(document.getElementById("texts").textContent);
  const LANG = document.documentElement.lang || "en";
  const $ = (sel) => document.querySelector(sel);
  const NS = "http://www.w3.org/2000/svg";
  const C = { opened: "#2457c5", resolved: "#1f9d6b", backlog: "#c2410c", median: "#7c3aed", p90: "#e08a1e" };
  const PALETTE = ["#2457c5", "#1f9d6b", "#e08a1e", "#c2410c", "#7c3aed", "#64748b"];
  const form = $("#r-form");
  let current = null;  // the last report shown

  function svg(tag, attrs = {}, text) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  const hostWidth = (host) => Math.max(280, Math.round(host.getBoundingClientRect().width) || 600);
  const pct = (r) => (r === null || r === undefined ? "–" : `${Math.round(r * 1000) / 10}%`);
  function dur(m) {
    if (m === null || m === undefined) return "–";
    if (m < 120) return `${Math.round(m * 10) / 10} ${T.rp_min}`;
    if (m < 48 * 60) return `${Math.round(m / 6) / 10} ${T.rp_h}`;
    return `${Math.round(m / 144) / 10} ${T.rp_d}`;
  }
  const label = (k) => (k === null || k === undefined ? T.rp_uncategorized : (T[k] || k));
  const noData = (host) => host.replaceChildren(el("p", { class: "muted", text: T.no_data }));

  function table(host, caption, headers, rows, numeric = []) {
    const t = el("table", { class: "rp-table" }, el("caption", { text: caption }),
      el("thead", {}, el("tr", {}, headers.map((h, i) => el("th", { scope: "col", class: numeric.includes(i) ? "num" : null, text: h })))),
      el("tbody", {}, rows.map((r) => el("tr", {}, r.map((v, i) => (i === 0
        ? el("th", { scope: "row", text: String(v) })
        : el("td", { class: numeric.includes(i) ? "num" : null, text: v === null || v === undefined ? "–" : String(v) })))))));
    host.replaceChildren(el("details", { class: "rp-details", open: true }, el("summary", { text: T.rp_chart_table }), t));
  }

  // Vertical grouped bars: one group per category, one bar per series; optional line series on top.
  function groupedBars(host, cats, series, title, { line = null, height = 170 } = {}) {
    const all = series.flatMap((s) => s.values).concat(line ? line.values.filter((v) => v !== null) : []);
    if (!cats.length || all.every((v) => !v)) { noData(host); return; }
    // Draw at the host's own width so labels keep their real size on a phone and on a wide screen.
    const max = Math.max(1, ...all), W = hostWidth(host), H = height, top = 14, bottom = 22;
    const gw = W / cats.length, bw = Math.max(2, Math.min(40, (gw - 8) / series.length));
    const y = (v) => top + (H - top) * (1 - v / max);
    const desc = cats.map((c, i) => `${c}: ${series.map((s) => `${s.name} ${s.values[i]}`).join(", ")}` +
      (line && line.values[i] !== null ? `, ${line.name} ${line.values[i]}` : "")).join("; ");
    const s = svg("svg", { viewBox: `0 0 ${W} ${H + bottom}`, role: "img", "aria-label": `${title}: ${desc}`, class: "chart-svg" });
    s.append(svg("line", { x1: 0, x2: W, y1: H, y2: H, stroke: "#d7dce6" }));
    const every = Math.ceil(cats.length / Math.max(2, Math.floor(W / 70)));
    cats.forEach((c, i) => {
      const x0 = i * gw + (gw - bw * series.length) / 2;
      series.forEach((ser, j) => {
        const v = ser.values[i], h = H - y(v);
        const r = svg("rect", { x: x0 + j * bw, y: y(v), width: bw - 2, height: Math.max(h, 0), rx: 2, fill: ser.color, class: `bar bar-${ser.key}` });
        r.append(svg("title", {}, `${c} · ${ser.name}: ${v}`)); s.append(r);
        if (v && bw >= 14) s.append(svg("text", { x: x0 + j * bw + (bw - 2) / 2, y: y(v) - 3, "text-anchor": "middle", class: "val" }, v));
      });
      if (i % every === 0) s.append(svg("text", { x: i * gw + gw / 2, y: H + 16, "text-anchor": "middle", class: "axis" }, c));
    });
    if (line) {
      const pts = line.values.map((v, i) => (v === null ? null : `${i * gw + gw / 2},${y(v)}`)).filter(Boolean);
      if (pts.length) {
        s.append(svg("polyline", { points: pts.join(" "), fill: "none", stroke: line.color, "stroke-width": 2.5, class: "backlog-line" }));
        line.values.forEach((v, i) => {
          if (v === null) return;
          const dot = svg("circle", { cx: i * gw + gw / 2, cy: y(v), r: 3.5, fill: line.color, class: "backlog-dot" });
          dot.append(svg("title", {}, `${cats[i]} · ${line.name}: ${v}`)); s.append(dot);
        });
      }
    }
    host.replaceChildren(s);
  }

  // Horizontal bars with labels (counts, or 0..1 rates when `rate`).
  function hbars(host, entries, title, { rate = false, fmt = String } = {}) {
    if (!entries.length || entries.every(([, v]) => (rate ? v === null : !v))) { noData(host); return; }
    // The label column fits the longest label (about 7 px a character at 12 px), at most 55 % of the width.
    const longest = Math.max(...entries.map(([k]) => String(k).length));
    const row = 30, W = hostWidth(host), LW = Math.min(Math.round(W * 0.55), longest * 7 + 14), H = entries.length * row;
    const max = rate ? 1 : Math.max(1, ...entries.map(([, v]) => v || 0));
    const desc = entries.map(([k, v]) => `${k}: ${fmt(v)}`).join(", ");
    const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `${title}: ${desc}`, class: "chart-svg" });
    entries.forEach(([k, v], i) => {
      const w = ((v || 0) / max) * (W - LW - 60);
      s.append(svg("text", { x: LW - 8, y: i * row + 19, "text-anchor": "end", class: "lbl" }, k));
      if (rate) s.append(svg("rect", { x: LW, y: i * row + 5, width: W - LW - 60, height: row - 10, rx: 3, fill: "#e3e8f2" }));
      const r = svg("rect", { x: LW, y: i * row + 5, width: Math.max(w, v ? 3 : 0), height: row - 10, rx: 3,
        fill: rate ? (v === null ? "#e3e8f2" : v >= 0.9 ? "#1f9d6b" : v >= 0.75 ? "#e08a1e" : "#c2410c") : PALETTE[i % PALETTE.length] });
      r.append(svg("title", {}, `${k}: ${fmt(v)}`)); s.append(r);
      s.append(svg("text", { x: rate ? W - 54 : LW + w + 6, y: i * row + 19, class: "val" }, fmt(v)));
    });
    host.replaceChildren(s);
  }

  function bucketLabel(iso, bucket) {
    const d = new Date(`${iso}T00:00:00Z`);
    const opts = bucket === "month" ? { month: "short", timeZone: "UTC" } : { day: "numeric", month: "short", timeZone: "UTC" };
    return new Intl.DateTimeFormat(LANG, opts).format(d);
  }

  function render(d) {
    current = d;
    $("#r-range").textContent = d.start === d.end ? d.start : `${d.start} – ${d.end}`;
    $("#r-tz").textContent = d.timezone;
    const tk = d.tickets, fcr = d.fcr, esc = d.escalation, bot = d.bot;
    $("#k-opened").textContent = tk.opened;
    $("#k-resolved").textContent = tk.resolved;
    $("#k-deflection").textContent = pct(bot.deflection_rate);
    $("#k-deflection-of").textContent = `${bot.deflected} / ${bot.conversations}`;
    $("#k-fcr").textContent = pct(fcr.rate);
    $("#k-fcr-of").textContent = `${fcr.first_contact} / ${fcr.resolved}`;
    $("#k-escalation").textContent = pct(esc.rate);
    $("#k-escalation-of").textContent = `${esc.escalated} / ${esc.opened}`;
    const known = d.trend.filter((b) => b.backlog !== null);
    $("#k-backlog").textContent = known.length ? known[known.length - 1].backlog : "–";

    const labels = d.trend.map((b) => bucketLabel(b.bucket, d.bucket));
    groupedBars($("#c-trend"), labels, [
      { key: "opened", name: T.rp_opened, color: C.opened, values: d.trend.map((b) => b.opened) },
      { key: "resolved", name: T.rp_resolved, color: C.resolved, values: d.trend.map((b) => b.resolved) }],
      T.rp_trend, { line: { name: T.rp_backlog, color: C.backlog, values: d.trend.map((b) => b.backlog) }, height: 200 });
    table($("#t-trend"), T.rp_trend, [T.rp_bucket, T.rp_opened, T.rp_resolved, T.rp_backlog],
      d.trend.map((b, i) => [b.bucket === b.last_day ? labels[i] : `${b.bucket} – ${b.last_day}`, b.opened, b.resolved, b.backlog]), [1, 2, 3]);

    const dims = [["channel", tk.by_channel, T.rp_by_channel, T.channel], ["category", tk.by_category, T.rp_by_category, T.rp_category],
                  ["line", tk.by_line, T.rp_by_line, T.line]];
    for (const [key, rows, title, head] of dims) {
      groupedBars($(`#c-${key}`), rows.map((r) => label(r.key)), [
        { key: "opened", name: T.rp_opened, color: C.opened, values: rows.map((r) => r.opened) },
        { key: "resolved", name: T.rp_resolved, color: C.resolved, values: rows.map((r) => r.resolved) }], title);
      table($(`#t-${key}`), title, [head, T.rp_opened, T.rp_resolved], rows.map((r) => [label(r.key), r.opened, r.resolved]), [1, 2]);
    }

    const reasons = Object.entries(bot.handoff_reasons);
    hbars($("#c-reasons"), reasons.map(([k, v]) => [label(k), v]), T.rp_reasons);
    table($("#t-reasons"), T.rp_reasons, [T.rp_reason, T.tickets], reasons.map(([k, v]) => [label(k), v]), [1]);

    const sla = [["first_response", T.rp_first_response], ["resolution", T.rp_resolution]];
    hbars($("#c-sla"), sla.map(([k, name]) => [name, d.sla[k].compliance]), T.rp_sla, { rate: true, fmt: pct });
    table($("#t-sla"), T.rp_sla, ["", T.rp_met, T.rp_missed, T.rp_total, T.rp_compliance],
      sla.map(([k, name]) => [name, d.sla[k].met, d.sla[k].missed, d.sla[k].total, pct(d.sla[k].compliance)]), [1, 2, 3, 4]);

    const times = [["first_response", T.rp_first_response], ["resolution", T.rp_resolution]];
    hbars($("#c-times"), times.flatMap(([k, name]) => [[`${name} · ${T.rp_median.toLowerCase()}`, d[k].median_minutes],
      [`${name} · p90`, d[k].p90_minutes]]), T.rp_times, { fmt: dur });
    table($("#t-times"), T.rp_times, ["", T.rp_count, T.rp_median, T.rp_p90],
      times.map(([k, name]) => [name, d[k].count, dur(d[k].median_minutes), dur(d[k].p90_minutes)]), [1, 2, 3]);

    const agents = d.time_logged.by_agent;
    hbars($("#c-agents"), agents.map((a) => [a.agent, a.minutes]), T.rp_time_by_agent, { fmt: (v) => dur(v) });
    table($("#t-agents"), T.rp_time_by_agent, [T.rp_agent, T.rp_minutes],
      [...agents.map((a) => [a.agent, a.minutes]), [T.rp_total_time, d.time_logged.total_minutes]], [1]);
  }

  // ---- the period picker ---------------------------------------------------------------------------------
  function query() {
    const kind = form.period.value, start = $("#r-start").value, end = $("#r-end").value;
    const q = new URLSearchParams();
    if (kind === "custom") { if (start) q.set("start", start); if (end) q.set("end", end); }
    else { q.set("period", kind); if (start) q.set("start", start); }
    return q;
  }
  function links(q) {
    for (const fmt of ["csv", "xlsx"]) {
      const p = new URLSearchParams(q); p.set("format", fmt);
      $(`#r-${fmt}`).href = `/api/v1/reports/summary?${p}`;
    }
  }
  async function load() {
    const q = query();
    $("#r-error").textContent = "";
    if (form.period.value === "custom" && (!q.get("start") || !q.get("end"))) { $("#r-error").textContent = T.rp_bad_range; return; }
    try {
      const d = await api("GET", `/api/v1/reports/summary?${q}`);
      history.replaceState(null, "", `${location.pathname}?${q}`);
      $("#r-start").value = d.start;
      if (d.period === "custom") $("#r-end").value = d.end;
      links(q);
      render(d);
      document.body.dataset.loaded = `${d.start}/${d.end}`;
    } catch (x) { $("#r-error").textContent = x.message; }
  }
  function showEnd() { $("#r-end-field").hidden = form.period.value !== "custom"; }
  const iso = (dt) => dt.toISOString().slice(0, 10);
  function shift(dir) {
    if (!current) return;
    const s = new Date(`${current.start}T00:00:00Z`), e = new Date(`${current.end}T00:00:00Z`);
    const kind = form.period.value;
    if (kind === "week") s.setUTCDate(s.getUTCDate() + 7 * dir);
    else if (kind === "month") s.setUTCMonth(s.getUTCMonth() + dir);
    else if (kind === "year") s.setUTCFullYear(s.getUTCFullYear() + dir);
    else {
      const days = Math.round((e - s) / 86400000) + 1;
      s.setUTCDate(s.getUTCDate() + days * dir); e.setUTCDate(e.getUTCDate() + days * dir);
      $("#r-end").value = iso(e);
    }
    $("#r-start").value = iso(s);
    load();
  }

  const init = new URLSearchParams(location.search);
  const kind = init.get("end") ? "custom" : (init.get("period") || "week");
  const radio = form.querySelector(`input[name=period][value="${kind}"]`);
  if (radio) radio.checked = true;
  if (init.get("start")) $("#r-start").value = init.get("start");
  if (init.get("end")) $("#r-end").value = init.get("end");
  showEnd();
  form.addEventListener("change", (ev) => {
    if (ev.target.name !== "period") return;
    showEnd();
    if (form.period.value === "custom") {
      if (current && !$("#r-end").value) $("#r-end").value = current.end;
      if (current) $("#r-start").value = current.start;
    }
    if (form.period.value !== "custom") load();
  });
  let resizeTimer;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (current) render(current); }, 200);
  });
  form.addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  $("#r-prev").addEventListener("click", () => shift(-1));
  $("#r-next").addEventListener("click", () => shift(1));
  load();
})();
