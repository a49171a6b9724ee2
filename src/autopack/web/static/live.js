// Autopack dashboard live updates: one EventSource on GET /events; cards move between
// columns, timelines and logs grow without a reload. Pages read fine without this file.

const PHASE_STATE_BY_EVENT = {
  phase_started: "EXECUTING", builder: "EXECUTING", applied: "EXECUTING",
  verify: "CI_RUNNING", auditor: "GATE", audited: "GATE", doctor: "EXECUTING",
  awaiting_approval: "AWAITING_APPROVAL", phase_complete: "COMPLETE",
  phase_failed: "FAILED", phase_skipped: "SKIPPED",
};
const LIVE_KINDS = ["progress", "run_created", "approval_decided", "cancel_requested", "run_resumed"];

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

function cardElement(card) {
  const article = el("article", { class: `card state-${card.column}`, id: `card-${card.run_id}`, "data-run-id": card.run_id });
  const h3 = el("h3");
  h3.append(el("a", { href: `/ui/runs/${encodeURIComponent(card.run_id)}` }, card.name || card.run_id));
  article.append(h3, el("p", { class: "muted mono" }, card.run_id));
  const state = el("p"); state.append(el("span", { class: "badge", "data-field": "state" }, card.state));
  const progress = el("p", {}, "Phases ");
  progress.append(el("strong", { "data-field": "progress" }), el("progress", { "data-field": "bar" }));
  const now = el("p", {}, "Now: "); now.append(el("span", { "data-field": "current" }));
  const spend = el("p", {}, "Tokens ");
  spend.append(el("span", { "data-field": "tokens" }), document.createTextNode(" · $"), el("span", { "data-field": "cost" }), document.createTextNode(` · age ${card.age}`));
  article.append(state, progress, now, spend);
  if (card.repo) article.append(el("p", { class: "muted mono small" }, card.repo));
  return article;
}

function fillCard(node, card) {
  node.className = `card state-${card.column}`;
  const set = (field, text) => { const f = node.querySelector(`[data-field="${field}"]`); if (f) f.textContent = text; };
  set("state", card.state);
  set("progress", `${card.phases_complete} / ${card.phases_total}`);
  const bar = node.querySelector('[data-field="bar"]');
  if (bar) { bar.max = card.phases_total || 1; bar.value = card.phases_complete; }
  set("current", card.current_phase ? `${card.current_phase} (${card.current_phase_state})` : "–");
  set("tokens", card.tokens_used.toLocaleString("en-US"));
  set("cost", Number(card.cost_usd).toFixed(4));
}

function updateCounts(board) {
  for (const column of board.querySelectorAll("[data-column]")) {
    const count = column.querySelector(".count");
    if (count) count.textContent = column.querySelectorAll(".card").length;
  }
}

function liveBoard(board) {
  const repo = board.dataset.repo, state = board.dataset.state;
  const last = board.dataset.lastEventId;
  const source = new EventSource(last ? `/events?last_event_id=${encodeURIComponent(last)}` : "/events");
  const onEvent = (message) => {
    const data = JSON.parse(message.data);
    const card = data.card;
    if (!card) return;
    let node = document.getElementById(`card-${card.run_id}`);
    const hidden = (repo && card.repo !== repo) || (state && card.column !== state);
    if (hidden) { if (node) node.remove(); updateCounts(board); return; }
    const column = board.querySelector(`[data-column="${card.column}"]`);
    if (!node) node = cardElement(card);
    fillCard(node, card);
    if (column && node.parentElement !== column) {
      const heading = column.querySelector("h2");
      heading.after(node);
    }
    updateCounts(board);
  };
  for (const kind of LIVE_KINDS) source.addEventListener(kind, onEvent);
  source.addEventListener("resync", () => location.reload());
}

function liveRun(timeline) {
  const runId = timeline.dataset.liveRun;
  const last = timeline.dataset.lastEventId;
  const query = new URLSearchParams({ run_id: runId });
  if (last) query.set("last_event_id", last);
  const source = new EventSource(`/events?${query}`);
  const log = document.getElementById("live-log");
  const badge = document.getElementById("run-state");
  const onEvent = (message) => {
    const data = JSON.parse(message.data);
    if (data.line && log) {
      log.append(document.createTextNode(data.line + "\n"));
      log.scrollTop = log.scrollHeight;
    }
    if (data.card && badge) badge.textContent = data.card.state;
    const phaseId = data.detail && data.detail.phase_id;
    const phaseState = PHASE_STATE_BY_EVENT[data.event];
    if (phaseId && phaseState) {
      const item = document.getElementById(`phase-${phaseId}`);
      if (item) {
        item.className = `phase state-${phaseState.toLowerCase()}`;
        const b = item.querySelector('[data-field="phase-state"]');
        if (b) b.textContent = phaseState;
      }
    }
    // The end of a run changes gauges, branch and issues: show them all.
    if (data.event === "run_finished") { source.close(); setTimeout(() => location.reload(), 300); }
  };
  for (const kind of LIVE_KINDS) source.addEventListener(kind, onEvent);
  source.addEventListener("resync", () => location.reload());
}

const board = document.querySelector("[data-live-board]");
if (board) liveBoard(board);
const timeline = document.querySelector("[data-live-run]");
if (timeline) liveRun(timeline);
