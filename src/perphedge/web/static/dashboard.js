// perphedge dashboard: polls server-rendered fragments and the series, draws the charts,
// and sends pause/resume with the token kept in this tab's sessionStorage only.
"use strict";

const TOKEN_KEY = "perphedge.token";
const pollMs = Number(document.body.dataset.pollMs || 5000);

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

function headers() {
  const t = token();
  return t ? { "Authorization": "Bearer " + t } : {};
}

function say(text, bad) {
  const el = document.getElementById("message");
  el.textContent = text;
  el.className = bad ? "bad" : "good";
}

async function fetchText(url) {
  const r = await fetch(url, { headers: headers(), cache: "no-store" });
  if (!r.ok) throw new Error(url + ": " + r.status);
  return r.text();
}

const LAYOUT = {
  margin: { l: 56, r: 8, t: 28, b: 32 }, height: 220, autosize: true,
  legend: { orientation: "h", y: -0.2 }, font: { size: 11 },
  paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
};

function line(x, y, name, color, dash) {
  return { x: x, y: y, name: name, type: "scatter", mode: "lines",
           line: { color: color, dash: dash || "solid", width: 2 } };
}

async function drawCharts(hedge) {
  if (typeof Plotly === "undefined") return;
  const r = await fetch("/api/hedges/" + encodeURIComponent(hedge) + "/series",
                        { headers: headers(), cache: "no-store" });
  if (!r.ok) return;
  const pts = (await r.json()).points;
  const x = pts.map(p => p.time);
  const num = key => pts.map(p => p[key] === null ? null : Number(p[key]));
  const charts = {
    value: [[line(x, num("hedged_value"), "hedged", "#1b7f3b"),
             line(x, num("unhedged_value"), "unhedged", "#b03a2e", "dot")], "Value (USDT)"],
    price: [[line(x, num("mark_price"), "mark", "#1f4e9c"),
             line(x, num("liquidation_price"), "liquidation", "#b03a2e", "dash")],
            "Mark and liquidation (USDT)"],
    costs: [[line(x, num("funding_cumulative"), "funding (+ received)", "#1b7f3b"),
             line(x, num("fees_cumulative"), "fees", "#8e5b00")], "Cumulative funding and fees (USDT)"],
  };
  for (const [kind, [traces, title]] of Object.entries(charts)) {
    const el = document.getElementById("chart-" + kind + "-" + hedge);
    if (el) Plotly.react(el, traces, { ...LAYOUT, title: { text: title, font: { size: 12 } } },
                         { responsive: true, displayModeBar: false });
  }
}

async function refresh() {
  try {
    const cards = document.getElementById("cards");
    const html = await fetchText("/fragments/cards");
    // Keep drawn charts and open logs: replace only what changed, card by card.
    const fresh = document.createElement("div");
    fresh.innerHTML = html;
    const known = new Set();
    for (const card of fresh.querySelectorAll("article.card")) {
      known.add(card.id);
      const old = document.getElementById(card.id);
      if (!old) { cards.appendChild(card); continue; }
      for (const part of [".card-head", ".gauge", ".gauge-text", ".figures"]) {
        old.querySelector(part).replaceWith(card.querySelector(part));
      }
    }
    for (const card of cards.querySelectorAll("article.card")) {
      if (!known.has(card.id)) card.remove();
    }
    for (const note of cards.querySelectorAll("p.empty")) note.remove();
    for (const card of cards.querySelectorAll("article.card")) {
      const hedge = card.dataset.hedge;
      await drawCharts(hedge);
      const log = document.getElementById("log-" + hedge);
      log.innerHTML = await fetchText("/fragments/hedges/" + encodeURIComponent(hedge) + "/log");
    }
    document.getElementById("updated").textContent = new Date().toISOString().slice(0, 19) + "Z";
  } catch (err) {
    say("could not refresh: " + err.message + (token() ? "" : " (a token may be needed)"), true);
  }
}

async function act(button) {
  const hedge = button.dataset.hedge, action = button.dataset.action;
  if (!token()) { say("enter the API token first", true); return; }
  const r = await fetch("/api/hedges/" + encodeURIComponent(hedge) + "/" + action,
                        { method: "POST", headers: headers() });
  const body = await r.json().catch(() => ({}));
  if (r.ok) say(hedge + ": " + body.state, false);
  else say(hedge + ": " + action + " refused (" + r.status + ") " +
           (body.detail || body.error || ""), true);
  await refresh();
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("token-form");
  const state = document.getElementById("token-state");
  state.textContent = token() ? "token set for this tab" : "";
  form.addEventListener("submit", ev => {
    ev.preventDefault();
    const input = document.getElementById("token");
    if (input.value) sessionStorage.setItem(TOKEN_KEY, input.value);
    else sessionStorage.removeItem(TOKEN_KEY);
    input.value = "";
    state.textContent = token() ? "token set for this tab" : "no token";
    refresh();
  });
  document.getElementById("cards").addEventListener("click", ev => {
    const button = ev.target.closest("button.act");
    if (button) act(button);
  });
  refresh();
  setInterval(refresh, pollMs);
});
