// Staff display: renders each snapshot pushed over server-sent events. Text only (textContent),
// never markup, so whatever a scanned code carried cannot run here.
"use strict";
(function () {
  const catalog = JSON.parse(document.getElementById("catalog").textContent);
  const T = catalog.text;
  const lang = document.body.dataset.lang;
  const ICONS = { accepted: "✓", warning: "!", refused: "✗", duplicate: "⟲", "tube-full": "■",
                  undone: "↶", "tube-cancelled": "✕", none: "…", "store-fault": "✗", "check-valid": "✓",
                  "check-expired": "⌛", "check-no-result": "…", "check-unavailable": "?",
                  "check-conflict": "⚠", "check-see-staff": "⚠" };
  const $ = (id) => document.getElementById(id);
  let lastSeq = null;
  let checkMode = false;
  let toastTimer = null;
  let lastState = null;

  function text(id, value) { $(id).textContent = value == null ? "" : String(value); }

  function age(seconds) {
    if (seconds == null) return T.never;
    if (seconds < 90) return seconds + " s " + T.ago;
    if (seconds < 5400) return Math.round(seconds / 60) + " min " + T.ago;
    return Math.round(seconds / 3600) + " h " + T.ago;
  }

  function reasonText(last) {
    const fromCatalog = catalog.reasons[last.detail];
    // Vietnamese: the workflow's own words first; English: the catalog, else the workflow's words.
    return lang === "vi" ? (last.message || fromCatalog) : (fromCatalog || last.message);
  }

  function checkFacts(last, kind) {
    // Worded here from the outcome's facts, so English and Vietnamese say the same thing.
    const facts = last.check || {};
    const lines = [];
    if (kind === "check-valid" && facts.until) lines.push(T["check.until"] + " " + facts.until);
    if (kind === "check-expired" && facts.until) lines.push(T["check.expired-at"] + " " + facts.until);
    if (kind === "check-no-result") lines.push(T["check.no-result"]);
    if (kind === "check-conflict") lines.push(T["check.conflict"]);
    if (kind === "check-see-staff") lines.push(T["check.see-staff"]);
    if (kind === "check-unavailable") lines.push(T["check." + (facts.reason || "offline")]);
    return lines;
  }

  function hintText(last, kind, state) {
    if (!last) {
      // Ready: say what the next scan should be.
      if (checkMode) return T["check.hint"];
      if (kind === "store-fault") return T["hint.store-fault"];
      if (!state.staff && state.sign_in_required) return T["hint.sign-in"];
      return state.tube ? T["hint.ready-tube"] : T["hint.ready-no-tube"];
    }
    if (kind.startsWith("check-")) return "";
    if (kind === "refused") return reasonText(last);
    // The workflow's own Vietnamese sentence names the person; English uses the catalog's.
    const own = ["warning", "duplicate", "undone", "tube-cancelled"];
    if (own.includes(kind) && lang === "vi" && last.message) return last.message;
    return T["hint." + kind] || "";
  }

  function checkResult(last) {
    return last.check && last.check.result ? T["result." + last.check.result] : "";
  }

  function renderLast(last, state) {
    const card = $("last");
    // With the card unwritable, the idle panel must not say "ready" under the red banner.
    const kind = last ? last.kind : (state.store_fault && !checkMode ? "store-fault" : "none");
    card.dataset.kind = kind;
    text("last-icon", ICONS[kind] || "•");
    text("last-kind", kind === "none" && checkMode ? T["check.ready"] : (T["kind." + kind] || kind));
    const person = last && last.person;
    text("last-name", person ? person.name : "");
    const facts = [];
    if (person && person.birth_year) facts.push(T.born + " " + person.birth_year);
    if (person && person.masked_id) facts.push(person.masked_id);
    if (last && (kind === "accepted" || kind === "warning") && last.detail) facts.push(last.detail);
    text("last-facts", facts.join("  ·  "));
    const lines = kind.startsWith("check-") ? checkFacts(last, kind) : [];
    if (kind.startsWith("check-") && checkResult(last)) lines.push(checkResult(last));
    text("last-lines", lines.join("\n"));
    $("last-whose").hidden = !(kind.startsWith("check-") && person);
    text("last-hint", hintText(last, kind, state));
    if (last && last.seq !== lastSeq) {
      lastSeq = last.seq;
      card.classList.remove("flash");
      void card.offsetWidth;              // restart the flash animation
      card.classList.add("flash");
    }
  }

  function overflows(box) {
    return box.scrollHeight > box.clientHeight + 1 || box.scrollWidth > box.clientWidth + 1;
  }

  function fitLast() {
    // Large type shrinks step by step (never below 1rem) until the panel holds everything.
    const card = $("last");
    let fit = 1;
    card.style.setProperty("--fit", fit);
    while (overflows(card) && fit > 0.35) {
      fit = Math.round((fit - 0.05) * 100) / 100;
      card.style.setProperty("--fit", fit);
    }
  }

  function slot(cls, mark, words) {
    const li = document.createElement("li");
    li.className = cls;
    const m = document.createElement("span");
    m.className = "mark";
    m.textContent = mark;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = words;
    li.append(m, who);
    return li;
  }

  function renderTube(tube) {
    const slots = $("slots");
    slots.replaceChildren();
    $("tube").dataset.open = tube ? "1" : "0";
    if (!tube) {
      text("tube-code", T["no-tube"]);
      text("tube-type", "");
      text("tube-count", "");
      return;
    }
    text("tube-code", tube.tube_code);
    text("tube-type", T[tube.test_type] || tube.test_type);
    text("tube-count", tube.filled + "/" + tube.pool_size);
    const filled = tube.persons.map((p) => p.name);
    const empty = Math.max(0, tube.pool_size - filled.length);
    const draw = (names, hidden, emptyLines) => {
      slots.replaceChildren();
      if (hidden > 0) slots.append(slot("more", "+", hidden + " " + T["more-people"]));
      names.forEach((name) => slots.append(slot("filled", "●", name)));
      if (emptyLines) for (let i = 0; i < empty; i++) slots.append(slot("empty", "○", T["empty-slot"]));
      else if (empty > 0) slots.append(slot("empty", "○", empty + " × " + T["empty-slot"]));
    };
    // Every slot on its own line when it fits; else empty slots share one line, then the oldest
    // names fold into "+N earlier" (the newest stay, since they are the ones staff check).
    draw(filled, 0, true);
    if (!overflows($("tube"))) return;
    let shown = filled.length;
    draw(filled, 0, false);
    while (overflows($("tube")) && shown > 1) {
      shown -= 1;
      draw(filled.slice(filled.length - shown), filled.length - shown, false);
    }
  }

  function renderLink(link) {
    const box = $("link");
    box.dataset.state = link.state;
    text("link-state", T["link." + link.state]);
    // One fact that matters now: what waits (and since when), else when the last record left.
    const parts = [];
    if (link.pending) parts.push(link.pending + " " + T.pending + " (" + T.oldest + " " + age(link.oldest_pending_age_s) + ")");
    else parts.push(T["last-delivery"] + ": " + age(link.last_delivery_age_s));
    if (link.quarantined) parts.push(link.quarantined + " " + T.quarantined);
    text("link-detail", parts.join(" · "));
  }

  function renderPrinter(printer) {
    const box = $("printer");
    box.hidden = !printer;
    if (!printer) return;
    box.dataset.state = printer.state;
    text("printer-state", T["printer." + printer.state] || printer.state);
    text("printer-detail", printer.waiting ? printer.waiting + " " + T["printer.waiting"] : "");
  }

  function renderButtons(actions) {
    let shown = 0;
    document.querySelectorAll("button[data-button]").forEach((button) => {
      const ok = actions[button.dataset.button] !== false;
      button.disabled = !ok;
      button.title = ok ? "" : T.unavailable;
      if (button.closest("footer") && getComputedStyle(button).display !== "none") shown += 1;
    });
    document.querySelector("footer").style.setProperty("--buttons", shown);
  }

  function render(state) {
    text("site", state.site);
    text("staff", state.staff || T.nobody);
    checkMode = !!state.check_mode;
    document.body.dataset.check = checkMode ? "1" : "0";
    $("mode").hidden = !checkMode;
    text("check-label", T[checkMode ? "check.button-off" : "check.button-on"]);
    $("check-button").setAttribute("aria-pressed", checkMode ? "true" : "false");
    $("clock-banner").hidden = !state.clock_unsynchronised;
    $("store-banner").hidden = !state.store_fault;
    text("store-banner", state.store_fault ? "✗ " + state.store_fault.message : "");
    text("today-people", state.today.people);
    text("today-tubes", state.today.tubes);
    renderLink(state.link);
    renderPrinter(state.printer);
    text("notice", state.notice ? state.notice.message : "");
    renderButtons(state.actions || {});
    const img = $("preview");
    $("preview-box").hidden = !state.preview;
    if (state.preview && !img.getAttribute("src")) img.src = img.dataset.src;
    renderLast(state.last, state);
    renderTube(state.tube);
    fitLast();
    document.body.dataset.version = state.version;
  }

  function toast(message) {
    const box = $("toast");
    box.textContent = message;
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.hidden = true; }, 3000);
  }

  async function press(button, reason, on) {
    try {
      const response = await fetch("/action/" + encodeURIComponent(button), {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Samplepoint-Display": "1" },
        body: JSON.stringify(reason ? { reason: reason } : (on === undefined ? {} : { on: on })),
      });
      if (response.status === 501) toast(T.unavailable);
      else if (!response.ok) toast(T.failed);
    } catch (err) {
      toast(T.failed);
    }
  }

  function wireButtons() {
    const dialog = $("cancel-dialog");
    document.querySelectorAll("button[data-button]").forEach((button) => {
      button.addEventListener("click", () => {
        if (button.dataset.ask) dialog.hidden = false;
        else if (button.dataset.button === "check-mode") press("check-mode", undefined, !checkMode);
        else press(button.dataset.button);
      });
    });
    dialog.querySelectorAll("[data-reason]").forEach((button) => {
      button.addEventListener("click", () => {
        dialog.hidden = true;
        press("cancel", button.dataset.reason);
      });
    });
    dialog.querySelector("[data-dismiss]").addEventListener("click", () => { dialog.hidden = true; });
  }

  function connect() {
    const source = new EventSource("/events");
    source.onmessage = (event) => {
      $("offline-banner").hidden = true;
      const state = JSON.parse(event.data);
      state.version = event.lastEventId;
      lastState = state;
      render(state);
    };
    source.onerror = () => { $("offline-banner").hidden = false; };   // EventSource retries by itself
  }

  wireButtons();
  connect();
  // A new screen size (or the preview's first frame) can change what fits: lay out again.
  window.addEventListener("resize", () => { if (lastState) render(lastState); });
  $("preview").addEventListener("load", () => { if (lastState) { renderTube(lastState.tube); fitLast(); } },
                                 { once: true });
})();
