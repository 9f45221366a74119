// The campaign page: start searches and watch every job of the campaign live.
// One EventSource per tab (the campaign stream); if it fails, poll every 3 s until it works
// again. Every value from the server goes in through textContent, never innerHTML.
"use strict";

(function () {
  const POLL_MS = 3000;
  const RESULTS_EVERY_MS = 1000;
  const CARD_ROWS = 100; // a search's table shows its top rows; the CSV and the list hold all
  const ACTIVE = new Set(["pending", "processing"]);
  const stateEl = document.getElementById("state");
  if (!stateEl) return;
  const state = JSON.parse(stateEl.textContent);
  const campaignId = state.campaign.id;
  const jobsEl = document.getElementById("jobs");
  const liveEl = document.getElementById("live-mode");
  const cards = new Map(); // job id -> card
  const deleted = new Set(); // job ids deleted here: a late status must not bring them back

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

  // The session's CSRF token: the API refuses a cookie-authenticated POST without it.
  const csrfMeta = document.querySelector("meta[name=csrf-token]");
  const csrfToken = csrfMeta ? csrfMeta.content : "";

  async function call(path, options) {
    const response = await fetch(path, Object.assign({
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json",
        "X-CSRF-Token": csrfToken },
    }, options));
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || `Request failed (${response.status})`);
    return { body, response };
  }

  async function api(path, options) {
    return (await call(path, options)).body;
  }

  // --- one job's card --------------------------------------------------------------------
  function statusText(job, card) {
    if (job.status === "completed") return card.final ? "Completed" : "Saving results...";
    if (job.status === "processing") return `Processing your search... (${job.progress}%)`;
    if (job.status === "pending") return "Starting search...";
    if (job.status === "cancelled") return "Cancelled";
    if (job.status === "timeout") return `Timed out: ${job.error || ""}`;
    return `Failed: ${job.error || "unknown error"}`;
  }

  function describe(job) {
    const what = job.kind === "similar" ? `creators like @${job.targetUsername}`
      : (job.keywords || []).join(", ");
    const platform = state.platforms[job.platform] || job.platform;
    return `${platform} · ${what} · ${job.targetResults} results`;
  }

  // What a similar-creators search is doing, stage by stage.
  function stageText(job) {
    const terms = (job.keywords || []).join(", ");
    const source = job.similarTo;
    const about = source && source.hashtags.length
      ? `@${source.handle} posts about ${source.hashtags.map((t) => `#${t}`).join(", ")}` : "";
    switch (job.stage) {
      case "fetching_profile": return `Fetching @${job.targetUsername}'s profile and posts`;
      case "analyzing": return about || "Analyzing their posts";
      case "searching": return [about, `searching ${terms}`,
        `${job.processedResults} of ${job.targetResults} creators found`]
        .filter(Boolean).join(" · ");
      case "processing": return `Scoring ${job.creatorsCount} creators`;
      case "completed": return about;
      default: return "";
    }
  }

  function duration(job) {
    const from = Date.parse(job.startedAt || job.createdAt);
    const to = Date.parse(job.finishedAt);
    if (Number.isNaN(from) || Number.isNaN(to)) return "";
    const s = Math.max(0, Math.round((to - from) / 1000));
    return s >= 60 ? `took ${Math.floor(s / 60)} min ${s % 60} s` : `took ${s} s`;
  }

  // An ended search says how it ended and what it brought, once its bar is gone.
  const OUTCOMES = { completed: "Completed", error: "Failed", timeout: "Timed out",
    cancelled: "Cancelled" };
  function outcomeText(job) {
    const items = job.kind === "similar" ? `${job.processedResults} candidates`
      : `${job.processedResults} items`;
    return [OUTCOMES[job.status] || job.status, items, `${job.creatorsCount} creators`,
      job.costUsd != null ? `cost ${money(job.costUsd)}` : "", duration(job)]
      .filter(Boolean).join(" · ");
  }

  function money(usd) {
    return `$${(usd || 0).toFixed(usd && usd < 0.01 ? 4 : 2)}`;
  }

  // The Apify run behind the card: its id (a link to Apify Console, outside the sandbox),
  // what it says it is doing, and what it has cost.
  function renderRun(card) {
    const job = card.job;
    const box = card.el.querySelector(".job-run");
    box.replaceChildren();
    if (!job.apifyRunId && !job.statusMessage) return;
    const parts = [];
    if (job.apifyRunId) {
      const url = safeUrl(job.consoleUrl);
      parts.push(url ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer",
        text: `Apify run ${job.apifyRunId}` }) : `Apify run ${job.apifyRunId}`);
    }
    if (job.statusMessage) parts.push(job.statusMessage);
    if (job.costUsd != null) parts.push(`cost ${money(job.costUsd)}`);
    parts.forEach((part, i) => box.append(...(i ? [" · ", part] : [part])));
  }

  function renderCampaignCost() {
    const total = [...cards.values()].reduce((sum, c) => sum + (c.job.costUsd || 0), 0);
    const node = document.getElementById("campaign-cost");
    if (node) node.textContent = `Apify cost so far: ${money(total)}`;
  }

  function formatEta(seconds) {
    if (seconds == null) return "";
    const s = Math.round(seconds);
    return s >= 60 ? `about ${Math.floor(s / 60)} min ${s % 60} s left` : `about ${s} s left`;
  }

  function render(card) {
    const job = card.job;
    const node = card.el;
    node.dataset.status = job.status;
    node.querySelector(".job-title").textContent = describe(job);
    node.querySelector(".job-status").textContent = statusText(job, card);
    node.querySelector("progress").value = job.progress;
    node.querySelector(".job-percent").textContent = `${job.progress}% completed`;
    const rate = job.ratePerSecond != null ? `${job.ratePerSecond} items/s` : "";
    const lookups = job.profileLookups;
    node.querySelector(".job-rate").textContent = job.kind === "similar" ? stageText(job)
      : lookups && job.stage === "processing" && ACTIVE.has(job.status)
        ? `Looking up creators' profiles: ${lookups.done + lookups.failed} of ${lookups.total}`
        : [`${job.processedResults} of ${job.targetResults} items`, rate,
          formatEta(job.etaSeconds)].filter(Boolean).join(" · ");
    // Once the creators are on screen the bar has said all it had to; an ended search that
    // found nothing keeps its status line to say why.
    node.querySelector(".progress-box").hidden = job.status === "completed" && card.final;
    node.querySelector(".cancel").hidden = !ACTIVE.has(job.status);
    node.querySelector(".rerun").hidden = ACTIVE.has(job.status);
    const outcome = node.querySelector(".job-outcome");
    outcome.hidden = ACTIVE.has(job.status);
    outcome.textContent = ACTIVE.has(job.status) ? "" : outcomeText(job);
    renderRun(card);
    renderCampaignCost();
  }

  // Cancel answers the job itself; re-run answers a new job, which gets a card of its own.
  async function act(card, action) {
    const button = card.el.querySelector(`.${action}`);
    const problem = card.el.querySelector(".action-error");
    button.disabled = true;
    problem.hidden = true;
    try {
      onStatus(await api(`/api/jobs/${encodeURIComponent(card.job.id)}/${action}`,
        { method: "POST" }));
    } catch (err) {
      problem.textContent = err.message;
      problem.hidden = false;
    } finally {
      button.disabled = false;
    }
  }

  function addCard(job, first) {
    const node = el("article", { class: "card job", "data-job-id": job.id },
      el("h3", { class: "job-title" }),
      el("div", { class: "progress-box" },
        el("p", { class: "job-status", "data-testid": "job-status" }),
        el("progress", { max: "100", value: "0" }),
        el("p", { class: "job-percent muted" }),
        el("p", { class: "job-rate muted", "data-testid": "job-rate" }),
        el("button", { class: "cancel secondary", type: "button", text: "Cancel" })),
      el("p", { class: "job-outcome", "data-testid": "job-outcome" }),
      el("p", { class: "job-run muted", "data-testid": "job-run" }),
      el("p", { class: "job-actions" },
        el("button", { class: "rerun secondary", type: "button", text: "Run again" }),
        el("button", { class: "delete secondary", type: "button", text: "Delete" }),
        el("span", { class: "action-error error", role: "alert", hidden: "" })),
      resultsControls(job),
      el("div", { class: "results" }));
    const card = { job, el: node, final: false, rows: [], total: 0, fetchedAt: -1,
      fetching: null, again: false, lastFetch: 0, timer: null, typing: null,
      sort: job.kind === "similar" ? "similarity" : "followers", minFollowers: 0 };
    cards.set(job.id, card);
    node.querySelector(".cancel").addEventListener("click", () => act(card, "cancel"));
    node.querySelector(".rerun").addEventListener("click", () => act(card, "rerun"));
    node.querySelector(".delete").addEventListener("click", () => remove(card));
    const sort = node.querySelector("select.sort");
    sort.value = card.sort;
    sort.addEventListener("change", () => { card.sort = sort.value; refresh(card); });
    const min = node.querySelector("input.min-followers");
    min.addEventListener("input", () => {
      card.minFollowers = Math.max(0, Math.floor(Number(min.value)) || 0);
      clearTimeout(card.typing);
      card.typing = setTimeout(() => refresh(card), 250);
    });
    if (first) jobsEl.prepend(node); else jobsEl.append(node);
    render(card);
    update(card, job);
    return card;
  }

  function update(card, job) {
    if (job.version != null && card.job.version != null && job.version < card.job.version) return;
    card.job = Object.assign(card.job, job);
    render(card);
    if (job.status === "completed") scheduleResults(card, true);
    else if (job.creatorsCount !== card.fetchedAt) scheduleResults(card, false);
  }

  // --- the results table: its top rows, read again as creators are found ---------------
  function scheduleResults(card, final) {
    if (card.final) return;
    if (final) card.wantFinal = true;
    if (card.fetching || card.timer) return;
    const wait = Math.max(0, card.lastFetch + RESULTS_EVERY_MS - Date.now());
    card.timer = setTimeout(() => { card.timer = null; fetchResults(card); },
      card.wantFinal ? 0 : wait);
  }

  // The same table again now: a new sort or filter, or a creator excluded from the list.
  function refresh(card) {
    if (card.fetching) card.again = true;
    else if (card.final) fetchResults(card);
    else scheduleResults(card, false);
  }

  async function fetchResults(card) {
    const final = card.wantFinal;
    const count = card.job.creatorsCount;
    card.lastFetch = Date.now();
    const params = new URLSearchParams({ sort: card.sort, limit: String(CARD_ROWS) });
    if (card.minFollowers) params.set("minFollowers", String(card.minFollowers));
    card.fetching = call(`/api/jobs/${encodeURIComponent(card.job.id)}/results?${params}`);
    try {
      const { body, response } = await card.fetching;
      card.rows = body;
      card.total = Number(response.headers.get("X-Total-Count")) || 0;
      card.fetchedAt = count;
      drawTable(card);
      if (final && !card.final) {
        card.final = true;
        render(card);
      }
    } catch (err) {
      card.el.querySelector(".results").textContent = `Could not load results: ${err.message}`;
    } finally {
      card.fetching = null;
    }
    if (card.again) {
      card.again = false;
      refresh(card);
    } else if (!card.final && (card.wantFinal || card.job.creatorsCount !== card.fetchedAt)) {
      scheduleResults(card, card.wantFinal);
    }
  }

  function cell(value) {
    return el("td", { text: value == null ? "" : String(value) });
  }

  // Sort, filter and export: set once per card, so typing in the filter keeps its focus.
  function resultsControls(job) {
    const sort = el("select", { class: "sort", "data-testid": "sort-by" },
      el("option", { value: "followers", text: "Followers" }),
      el("option", { value: "engagement", text: "Engagement" }),
      el("option", { value: "similarity", text: "Similarity" }));
    return el("div", { class: "row results-controls", hidden: "" },
      el("label", {}, "Sort by", sort),
      el("label", {}, "Min. followers", el("input", { class: "min-followers", type: "number",
        min: "0", step: "1", value: "0", "data-testid": "min-followers" })),
      el("a", { class: "export", "data-testid": "export-csv", download: "",
        href: `/api/jobs/${encodeURIComponent(job.id)}/results?format=csv`,
        text: "Export CSV" }));
  }

  function drawTable(card) {
    const creators = card.rows; // the server's top rows, in the card's sort and filter
    const similar = card.job.kind === "similar";
    const heads = ["Creator", "Name", "Followers", "Engagement", "Keyword", "Bio"];
    if (similar) heads.splice(4, 0, "Similarity");
    const head = el("tr", {}, ...heads.map((h) => el("th", { text: h })));
    const body = el("tbody");
    for (const c of creators) {
      const profile = safeUrl(c.profileUrl);
      const handle = profile
        ? el("a", { href: profile, rel: "noopener noreferrer", target: "_blank",
          text: `@${c.handle}` })
        : document.createTextNode(`@${c.handle}`);
      const row = el("tr", { "data-followers": String(c.followers ?? ""),
        "data-engagement": String(c.engagementRate ?? ""),
        "data-similarity": String(c.similarityScore ?? "") },
        el("td", {}, handle),
        cell(c.displayName),
        cell(c.followers != null ? c.followers.toLocaleString("en-US") : "unknown"),
        cell(c.engagementRate != null ? `${(c.engagementRate * 100).toFixed(2)}%` : ""),
        cell(c.matchedKeyword),
        cell(c.bio));
      if (similar) {
        const score = c.similarityScore != null ? `${Math.round(c.similarityScore * 100)}%` : "";
        row.children[3].after(el("td", { class: "similarity" }, el("strong", { text: score }),
          el("span", { class: "muted reason", text: c.similarityReason ? ` ${c.similarityReason}` : "" })));
      }
      body.append(row);
    }
    const shown = creators.length === card.total ? "" : ` (${creators.length} shown)`;
    card.el.querySelector(".results-controls").hidden = card.total === 0;
    card.el.querySelector(".results").replaceChildren(
      el("p", { class: "muted", "data-testid": "creators-found",
        text: `${card.total} creators found${shown}` }),
      el("table", { class: "results-table", "data-testid": "results-table" },
        el("thead", {}, head), body));
  }

  function onStatus(job) {
    if (deleted.has(job.id)) return;
    const card = cards.get(job.id);
    const before = card ? card.job.creatorsCount : 0;
    if (card) update(card, job);
    else addCard(job, true);
    if ((job.creatorsCount || 0) !== before) list.refreshSoon();
  }

  async function remove(card) {
    const running = ACTIVE.has(card.job.status) ? " It is still running: it will be cancelled"
      + " first." : "";
    if (!window.confirm(`Delete this search and its creators?${running} Creators only it `
      + "found leave the campaign's list.")) return;
    try {
      await api(`/api/jobs/${encodeURIComponent(card.job.id)}`, { method: "DELETE" });
      deleted.add(card.job.id);
      cards.delete(card.job.id);
      card.el.remove();
      renderCampaignCost();
      list.load(false);
    } catch (err) {
      const problem = card.el.querySelector(".action-error");
      problem.textContent = err.message;
      problem.hidden = false;
    }
  }

  const deleteCampaign = document.getElementById("delete-campaign");
  deleteCampaign.addEventListener("click", async () => {
    if (!window.confirm("Delete this campaign with all its searches and creators? Running "
      + "searches are cancelled first.")) return;
    try {
      await api(`/api/campaigns/${encodeURIComponent(campaignId)}`, { method: "DELETE" });
      window.location.assign("/");
    } catch (err) {
      formError.textContent = err.message;
      formError.hidden = false;
    }
  });

  // --- the campaign's creator list: server-side filters, sort and cursor paging -----------
  const list = (function () {
    const form = document.getElementById("creators-filter");
    const rowsEl = document.getElementById("creators-rows");
    const totalEl = document.getElementById("creators-total");
    const moreEl = document.getElementById("creators-more");
    const errorEl = document.getElementById("creators-error");
    const selectedEl = document.querySelector("[data-testid=selected-count]");
    const path = `/api/campaigns/${encodeURIComponent(campaignId)}/creators`;
    const selected = new Set();
    let shown = [];
    let cursor = null;
    let loading = null;
    let timer = null;

    function query(extra, where = path) {
      const params = new URLSearchParams();
      for (const [name, value] of new FormData(form)) {
        if (String(value).trim() !== "") params.set(name, String(value).trim());
      }
      for (const [name, value] of Object.entries(extra)) params.set(name, value);
      return `${where}?${params}`;
    }

    function fail(err) {
      errorEl.textContent = err.message;
      errorEl.hidden = false;
    }

    // The first page again, as long as what is shown (a refresh keeps the rows in view).
    async function load(more) {
      const limit = more ? 50 : Math.min(500, Math.max(50, shown.length));
      const url = query(more && cursor ? { limit, cursor } : { limit });
      const started = loading = api(url);
      try {
        const page = await started;
        if (started !== loading) return; // a newer load replaced this one
        show(page, more);
      } catch (err) {
        fail(err);
      } finally {
        if (started === loading) loading = null;
      }
    }

    function show(page, more) {
      errorEl.hidden = true;
      shown = more ? shown.concat(page.items) : page.items;
      cursor = page.nextCursor;
      totalEl.textContent = `(${page.total})`;
      draw();
    }

    // The first page came inside the page, for the form as the server drew it; a form the
    // browser filled in again (going back) asks for its own.
    function start(first) {
      show(first, false);
      if (query({}) !== `${path}?sort=-followers`) load(false);
    }

    function refreshSoon() {
      if (timer) return;
      timer = setTimeout(() => { timer = null; load(false); }, RESULTS_EVERY_MS);
    }

    function draw() {
      const ids = new Set(shown.map((c) => c.id));
      for (const id of [...selected]) if (!ids.has(id)) selected.delete(id);
      rowsEl.replaceChildren(...shown.map(row));
      for (const format of ["xlsx", "csv", "json"]) {  // the same filters and sort, as a file
        document.getElementById(`export-${format}`).href = query({ format }, `${path}/export`);
      }
      moreEl.hidden = !cursor;
      selectedEl.textContent = `${selected.size} selected`;
    }

    function row(c) {
      const profile = safeUrl(c.profileUrl);
      const box = el("input", { type: "checkbox", "aria-label": `Select @${c.handle}` });
      box.checked = selected.has(c.id);
      box.addEventListener("change", () => {
        if (box.checked) selected.add(c.id); else selected.delete(c.id);
        selectedEl.textContent = `${selected.size} selected`;
      });
      const status = el("select", { "aria-label": `Status of @${c.handle}` },
        ...state.creatorStatuses.map((s) => el("option", { value: s, text: s })));
      status.value = c.status;
      status.addEventListener("change", () => change(c, { status: status.value }));
      return el("tr", { "data-creator-id": String(c.id), "data-status": c.status },
        el("td", {}, box),
        el("td", {}, profile ? el("a", { href: profile, rel: "noopener noreferrer",
          target: "_blank", text: `@${c.handle}` }) : `@${c.handle}`,
        c.displayName ? el("div", { class: "muted", text: c.displayName }) : null),
        cell(state.platforms[c.platform] || c.platform),
        cell(c.followers != null ? c.followers.toLocaleString("en-US") : "unknown"),
        cell(c.engagementRate != null ? `${(c.engagementRate * 100).toFixed(2)}%` : ""),
        contact(c),
        el("td", {}, status),
        cell(c.tags.join(", ")),
        el("td", { "data-testid": "found-by", "data-count": String(c.foundBy.length),
          text: c.foundBy.length === 1 ? "1 search" : `${c.foundBy.length} searches` }));
    }

    // Addresses, the bio link and where the creator is: what outreach starts from.
    function contact(c) {
      const link = safeUrl(c.externalUrl);
      return el("td", { "data-testid": "contact" },
        ...c.emails.map((email) => el("div", {}, el("a", { href: `mailto:${email}`,
          text: email }))),
        link ? el("div", {}, el("a", { href: link, rel: "noopener noreferrer",
          target: "_blank", text: new URL(link).host })) : null,
        [c.country, c.language].some(Boolean)
          ? el("div", { class: "muted", text: [c.country, c.language].filter(Boolean)
            .join(" · ") }) : null);
    }

    async function change(c, body) {
      try {
        Object.assign(c, await api(`${path}/${c.id}`, { method: "PATCH",
          body: JSON.stringify(body) }));
        load(false); // it may leave the filtered list
        if (body.status) refetchTables(); // or join or leave the searches' tables
      } catch (err) {
        fail(err);
      }
    }

    async function bulk(body) {
      if (!selected.size) return fail(new Error("Select creators first"));
      try {
        await api(`${path}/bulk`, { method: "POST",
          body: JSON.stringify(Object.assign({ ids: [...selected] }, body)) });
        selected.clear();
        load(false);
        if (body.status) refetchTables();
      } catch (err) {
        fail(err);
      }
    }

    let typing = null;
    form.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => load(false), 250);
    });
    form.addEventListener("submit", (event) => { event.preventDefault(); load(false); });
    moreEl.addEventListener("click", () => load(true));
    document.getElementById("select-all").addEventListener("change", (event) => {
      for (const c of shown) if (event.target.checked) selected.add(c.id); else selected.delete(c.id);
      draw();
    });
    document.getElementById("bulk-apply").addEventListener("click",
      () => bulk({ status: document.getElementById("bulk-status").value }));
    document.getElementById("bulk-tag-add").addEventListener("click", () => {
      const tag = document.getElementById("bulk-tag").value.trim();
      if (tag) bulk({ addTags: [tag] });
    });
    return { load, refreshSoon, start };
  })();

  // The searches' tables, read again: an excluded creator leaves them.
  function refetchTables() {
    for (const card of cards.values()) if (card.final) refresh(card);
  }

  // --- live updates: the campaign stream, polling while it is down -----------------------
  let source = null;
  let pollTimer = null;
  let failures = 0;

  function setMode(mode) {
    if (liveEl) liveEl.textContent = mode === "push" ? "Live" : "Live (polling every 3 s)";
    if (liveEl) liveEl.dataset.mode = mode;
  }

  function connect() {
    if (!window.EventSource) return startPolling();
    source = new EventSource(`/api/campaigns/${encodeURIComponent(campaignId)}/events`);
    source.addEventListener("progress", (event) => {
      failures = 0;
      onStatus(JSON.parse(event.data));
    });
    source.addEventListener("open", () => {
      failures = 0;
      stopPolling();
      setMode("push");
    });
    source.addEventListener("error", () => {
      failures += 1;
      // The browser retries by itself; after repeated failures, poll instead.
      if (source.readyState === EventSource.CLOSED || failures >= 3) {
        source.close();
        source = null;
        startPolling();
      }
    });
  }

  function startPolling() {
    if (pollTimer) return;
    setMode("poll");
    let tries = 0;
    pollTimer = setInterval(async () => {
      try {
        const campaign = await api(`/api/campaigns/${encodeURIComponent(campaignId)}`);
        for (const job of campaign.scrapingJobs) onStatus(job);
      } catch (err) {
        console.warn("Error polling the campaign:", err.message);
      }
      tries += 1;
      if (tries % 10 === 0 && !source) connect(); // try push again now and then
    }, POLL_MS);
  }

  function stopPolling() {
    if (pollTimer) clearInterval(pollTimer);
    pollTimer = null;
  }

  // --- the start-search form ---------------------------------------------------------------
  const form = document.getElementById("search-form");
  const formError = document.getElementById("form-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    formError.hidden = true;
    const data = new FormData(form);
    const search = { campaignId, targetResults: Number(data.get("targetResults")) };
    if (data.get("kind") === "similar") {
      search.targetUsername = String(data.get("targetUsername")).trim().replace(/^@/, "");
    } else {
      search.keywords = String(data.get("keywords")).split(/[,\n]/).map((k) => k.trim())
        .filter(Boolean);
    }
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const job = await api(`/api/scraping/${encodeURIComponent(data.get("platform"))}`, {
        method: "POST",
        body: JSON.stringify(search),
      });
      onStatus(job);
    } catch (err) {
      formError.textContent = err.message;
      formError.hidden = false;
    } finally {
      button.disabled = false;
    }
  });

  // The search kind shows its own field; the hidden one is disabled, so it is not required.
  const kind = form.querySelector("select[name=kind]");
  function showKind() {
    for (const label of form.querySelectorAll("[data-kind]")) {
      const on = label.dataset.kind === kind.value;
      label.hidden = !on;
      const input = label.querySelector("input");
      input.disabled = !on;
      input.required = on;
    }
  }
  kind.addEventListener("change", showKind);
  showKind();

  for (const job of state.jobs) addCard(job, false);
  list.start(state.creators);
  connect();
})();
