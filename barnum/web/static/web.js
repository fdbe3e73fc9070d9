// barnum web: live rows over SSE, confirmation dialogs, freshness.  No library.
// The server renders every fragment (escaped there); this file only swaps them in.
"use strict";
(function () {
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  let skew = 0; // server clock minus ours, seconds
  const opened = new Set(); // hosts the operator unfolded; kept across live updates

  function setOpen(tb, open) {
    tb.classList.toggle("folded", !open);
    const b = tb.querySelector("button.fold");
    if (b) b.setAttribute("aria-expanded", String(open));
  }

  function folding() {
    document.addEventListener("click", function (ev) {
      const b = ev.target.closest && ev.target.closest("button.fold");
      if (!b) return;
      const tb = b.closest("tbody");
      const open = tb.classList.contains("folded");
      if (open) opened.add(tb.dataset.host); else opened.delete(tb.dataset.host);
      setOpen(tb, open);
    });
  }

  function fragment(html) {
    const t = document.createElement("template");
    t.innerHTML = html;
    return t.content.firstElementChild;
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify(body || {}),
    }).then(function (r) { return r.json(); });
  }

  function tickFresh() {
    const now = Date.now() / 1000 + skew;
    document.querySelectorAll(".fresh[data-seen]").forEach(function (el) {
      const seen = parseFloat(el.dataset.seen);
      if (!isNaN(seen)) el.textContent = "as of " + Math.max(0, Math.round(now - seen)) + " s ago";
    });
  }

  function live() {
    const badge = document.getElementById("live");
    const table = document.getElementById("fleet");
    if (!badge || !table) return;
    const src = new EventSource("/api/events" + (badge.dataset.qs ? "?" + badge.dataset.qs : ""));
    src.onopen = function () { badge.textContent = "live"; badge.className = "live on"; };
    src.onerror = function () { badge.textContent = "reconnecting\u2026"; badge.className = "live off"; };
    src.addEventListener("host", function (ev) {
      const d = JSON.parse(ev.data);
      const old = document.getElementById("host-" + d.host);
      if (!d.html) { if (old) old.remove(); return; }
      const el = fragment(d.html);
      if (opened.has(d.host) && el.classList.contains("folded")) setOpen(el, true);
      if (old) old.replaceWith(el); else table.appendChild(el);
      document.body.dataset.updated = String(Date.now());
    });
    src.addEventListener("order", function (ev) {
      JSON.parse(ev.data).forEach(function (h) {
        const el = document.getElementById("host-" + h);
        if (el) table.appendChild(el);
      });
    });
    src.addEventListener("counters", function (ev) {
      const old = document.getElementById("counters");
      if (old) old.replaceWith(fragment(JSON.parse(ev.data)));
    });
    src.addEventListener("fresh", function (ev) {
      const d = JSON.parse(ev.data);
      skew = d.now - Date.now() / 1000;
      Object.keys(d.seen).forEach(function (h) {
        const tb = document.getElementById("host-" + h);
        const el = tb && tb.querySelector(".fresh");
        if (el && d.seen[h] !== null) el.dataset.seen = String(d.seen[h]);
      });
      tickFresh();
    });
    setInterval(tickFresh, 1000);
  }

  function showResult(html, text) {
    const box = document.getElementById("results");
    if (!box) return;
    if (html) { box.replaceChildren(fragment(html)); return; }
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = text;
    box.replaceChildren(p);
  }

  function confirmPlan(plan) {
    const dlg = document.getElementById("confirm");
    document.getElementById("confirm-text").textContent = plan.summary + ":";
    const list = document.getElementById("confirm-list");
    list.replaceChildren();
    plan.items.slice(0, 30).forEach(function (it) {
      const li = document.createElement("li");
      li.textContent = (it.watcher || it.unit) + " on " + it.user + "@" + it.host;
      list.appendChild(li);
    });
    if (plan.items.length > 30) {
      const li = document.createElement("li");
      li.textContent = "\u2026 and " + (plan.items.length - 30) + " more";
      list.appendChild(li);
    }
    const typeBox = document.getElementById("confirm-type");
    const input = document.getElementById("confirm-input");
    input.value = "";
    typeBox.hidden = !plan.confirm_word;
    document.getElementById("confirm-word").textContent = plan.confirm_word || "";
    dlg.returnValue = "";
    dlg.showModal();
    if (plan.confirm_word) input.focus(); else document.getElementById("confirm-cancel").focus();
    dlg.onclose = function () {
      if (dlg.returnValue !== "ok") { showResult(null, "cancelled: nothing done"); return; }
      showResult(null, "working: " + plan.summary + "\u2026");
      post("/api/act", {plan: plan.plan, typed: input.value}).then(function (r) {
        showResult(r.html, r.error || "");
      });
    };
  }

  function actions() {
    document.addEventListener("submit", function (ev) {
      const form = ev.target;
      if (form.id === "refresh-form") {
        ev.preventDefault();
        showResult(null, "refreshing\u2026");
        post("/api/refresh").then(function (r) {
          showResult(null, r.ok ? "refreshed: " + r.hosts_answered +
            (r.hosts_answered === 1 ? " host answered" : " hosts answered") : r.error);
        });
        return;
      }
      if (!form.classList.contains("act") || !document.getElementById("confirm")) return;
      ev.preventDefault();
      const fields = Object.fromEntries(new FormData(form).entries());
      if (ev.submitter && ev.submitter.name) fields[ev.submitter.name] = ev.submitter.value;
      delete fields.csrf;
      post("/api/plan", fields).then(function (plan) {
        if (!plan.ok) { showResult(null, plan.error); return; }
        confirmPlan(plan);
      });
    });
  }

  function logs() {
    const pre = document.getElementById("log");
    if (!pre || !pre.dataset.follow) return;
    const q = new URLSearchParams({host: pre.dataset.host, unit: pre.dataset.unit});
    const src = new EventSource("/api/logs/stream?" + q.toString());
    src.addEventListener("lines", function (ev) {
      const tmp = document.createElement("template");
      tmp.innerHTML = JSON.parse(ev.data);
      pre.appendChild(tmp.content);
      pre.scrollTop = pre.scrollHeight;
    });
    src.addEventListener("end", function (ev) {
      src.close();  // no reconnect: the server said the stream is over
      const note = document.createElement("div");
      note.className = "ln ended";
      note.textContent = "the journal stream ended: " + JSON.parse(ev.data).reason;
      pre.appendChild(note);
      pre.scrollTop = pre.scrollHeight;
    });
  }

  document.addEventListener("DOMContentLoaded", function () { folding(); live(); actions(); logs(); });
})();
