// The campaign page: start searches, show each job's progress, then its creators.
// Every value from the server goes in through textContent, never innerHTML.
"use strict";

(function () {
  const POLL_MS = 3000;
  const ACTIVE = new Set(["pending", "processing"]);
  const stateEl = document.getElementById("state");
  if (!stateEl) return;
  const state = JSON.parse(stateEl.textContent);
  const jobsEl = document.getElementById("jobs");
  const cards = new Map(); // job id -> {job, el, resultsShown}

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) if (c) node.append(c);
    return node;
  }

  function safeUrl(value) {
    try {
      const url = new URL(value);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  function statusText(job, resultsShown) {
    if (job.status === "completed") return resultsShown ? "Completed" : "Saving results...";
    if (job.status === "processing") return `Processing your search... (${job.progress}%)`;
    if (job.status === "pending") return "Starting search...";
    if (job.status === "cancelled") return "Cancelled";
    if (job.status === "timeout") return `Timed out: ${job.error || ""}`;
    return `Failed: ${job.error || "unknown error"}`;
  }

  function describe(job) {
    const what = job.keywords ? job.keywords.join(", ") : `like @${job.targetUsername}`;
    return `${job.platform} · ${what} · ${job.targetResults} results`;
  }

  function formatEta(seconds) {
    if (seconds == null) return "";
    const s = Math.round(seconds);
    return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s left` : `${s} s left`;
  }

  function render(card) {
    const job = card.job;
    const el_ = card.el;
    el_.dataset.status = job.status;
    el_.querySelector(".job-title").textContent = describe(job);
    el_.querySelector(".job-status").textContent = statusText(job, card.resultsShown);
    const bar = el_.querySelector("progress");
    bar.value = job.progress;
    el_.querySelector(".job-percent").textContent = `${job.progress}% completed`;
    const rate = job.ratePerSecond != null ? `${job.ratePerSecond} items/s` : "";
    el_.querySelector(".job-rate").textContent =
      [`${job.processedResults} of ${job.targetResults} items`, rate, formatEta(job.etaSeconds)]
        .filter(Boolean).join(" · ");
    el_.querySelector(".progress-box").hidden = !(ACTIVE.has(job.status) ||
      (job.status === "completed" && !card.resultsShown));
  }

  function addCard(job, first) {
    const node = el("article", { class: "card job", "data-job-id": job.id },
      el("h3", { class: "job-title" }),
      el("div", { class: "progress-box" },
        el("p", { class: "job-status", "data-testid": "job-status" }),
        el("progress", { max: "100", value: "0" }),
        el("p", { class: "job-percent muted" }),
        el("p", { class: "job-rate muted" })),
      el("div", { class: "results" }));
    const card = { job, el: node, resultsShown: false };
    cards.set(job.id, card);
    if (first) jobsEl.prepend(node); else jobsEl.append(node);
    render(card);
    if (job.status === "completed") loadResults(card);
    else if (!ACTIVE.has(job.status)) node.querySelector(".job-status").textContent =
      statusText(job, true);
    return card;
  }

  async function api(path, options) {
    const response = await fetch(path, Object.assign({
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
    }, options));
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || `Request failed (${response.status})`);
    return body;
  }

  function cell(value) {
    return el("td", { text: value == null ? "" : String(value) });
  }

  function resultsTable(creators) {
    const head = el("tr", {}, ...["Creator", "Name", "Followers", "Engagement", "Keyword", "Bio"]
      .map((h) => el("th", { text: h })));
    const body = el("tbody");
    for (const c of creators) {
      const profile = safeUrl(c.profileUrl);
      const handle = profile
        ? el("a", { href: profile, rel: "noopener noreferrer", target: "_blank", text: `@${c.handle}` })
        : document.createTextNode(`@${c.handle}`);
      body.append(el("tr", {},
        el("td", {}, handle),
        cell(c.displayName),
        cell(c.followers != null ? c.followers.toLocaleString() : ""),
        cell(c.engagementRate != null ? `${(c.engagementRate * 100).toFixed(2)}%` : ""),
        cell(c.matchedKeyword),
        cell(c.bio)));
    }
    return el("table", { class: "results-table", "data-testid": "results-table" },
      el("thead", {}, head), body);
  }

  async function loadResults(card) {
    try {
      const creators = await api(`/api/jobs/${encodeURIComponent(card.job.id)}/results`);
      const box = card.el.querySelector(".results");
      box.replaceChildren(
        el("p", { class: "muted", text: `${creators.length} creators found` }),
        resultsTable(creators));
      card.resultsShown = true;
      render(card);
    } catch (err) {
      card.el.querySelector(".results").textContent = `Could not load results: ${err.message}`;
    }
  }

  async function poll() {
    for (const card of cards.values()) {
      if (!ACTIVE.has(card.job.status)) continue;
      try {
        const job = await api(`/api/scraping/${encodeURIComponent(card.job.platform)}` +
          `?jobId=${encodeURIComponent(card.job.id)}`);
        card.job = Object.assign(card.job, job);
        render(card);
        if (job.status === "completed") loadResults(card);
        else if (!ACTIVE.has(job.status)) render(card);
      } catch (err) {
        console.error("Error polling job status:", err);
      }
    }
  }

  const form = document.getElementById("search-form");
  const formError = document.getElementById("form-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    formError.hidden = true;
    const data = new FormData(form);
    const keywords = String(data.get("keywords")).split(/[,\n]/).map((k) => k.trim())
      .filter(Boolean);
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const job = await api(`/api/scraping/${encodeURIComponent(data.get("platform"))}`, {
        method: "POST",
        body: JSON.stringify({
          campaignId: state.campaign.id, keywords,
          targetResults: Number(data.get("targetResults")),
        }),
      });
      addCard(job, true);
    } catch (err) {
      formError.textContent = err.message;
      formError.hidden = false;
    } finally {
      button.disabled = false;
    }
  });

  for (const job of state.jobs) addCard(job, false);
  setInterval(poll, POLL_MS);
})();
