// Staff display: renders each snapshot pushed over server-sent events. Text only (textContent),
// never markup, so whatever a scanned code carried cannot run here.
"use strict";
(function () {
  const catalog = JSON.parse(document.getElementById("catalog").textContent);
  const T = catalog.text;
  const lang = document.body.dataset.lang;
  const ICONS = { accepted: "✓", warning: "!", refused: "✗", duplicate: "⟲", "tube-full": "■",
                  undone: "↶", "tube-cancelled": "✕", none: "…", "check-valid": "✓",
                  "check-expired": "✗", "check-no-result": "…", "check-unavailable": "?" };
  const $ = (id) => document.getElementById(id);
  let lastSeq = null;
  let checkMode = false;
  let toastTimer = null;

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
    if (kind === "check-unavailable") lines.push(T["check." + (facts.reason || "offline")]);
    return lines;
  }

  function hintText(last, kind) {
    if (!last) return checkMode ? T["check.hint"] : "";
    if (kind.startsWith("check-")) {
      return last.check && last.check.result ? T["result." + last.check.result] : "";
    }
    if (kind === "refused") return reasonText(last);
    // The workflow's own Vietnamese sentence names the person; English uses the catalog's.
    const own = ["warning", "duplicate", "undone", "tube-cancelled"];
    if (own.includes(kind) && lang === "vi" && last.message) return last.message;
    return T["hint." + kind] || "";
  }

  function renderLast(last) {
    const card = $("last");
    const kind = last ? last.kind : "none";
    card.dataset.kind = kind;
    text("last-icon", ICONS[kind] || "•");
    text("last-kind", T["kind." + kind] || kind);
    const person = last && last.person;
    text("last-name", person ? person.name : "");
    if (kind.startsWith("check-")) text("last-name", checkFacts(last, kind).join("\n"));
    const facts = [];
    if (person && person.birth_year) facts.push(T.born + " " + person.birth_year);
    if (person && person.masked_id) facts.push(person.masked_id);
    if (last && (kind === "accepted" || kind === "warning") && last.detail) facts.push(last.detail);
    text("last-facts", facts.join("  ·  "));
    text("last-hint", hintText(last, kind));
    if (last && last.seq !== lastSeq) {
      lastSeq = last.seq;
      card.classList.remove("flash");
      void card.offsetWidth;              // restart the flash animation
      card.classList.add("flash");
    }
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
    for (let i = 0; i < tube.pool_size; i++) {
      const li = document.createElement("li");
      const person = tube.persons[i];
      li.className = person ? "filled" : "empty";
      const mark = document.createElement("span");
      mark.className = "mark";
      mark.textContent = person ? "●" : "○";
      const name = document.createElement("span");
      name.className = "who";
      name.textContent = person ? person.name : T["empty-slot"];
      li.append(mark, name);
      slots.append(li);
    }
  }

  function renderLink(link) {
    const box = $("link");
    box.dataset.state = link.state;
    text("link-state", T["link." + link.state]);
    const parts = [];
    if (link.pending) parts.push(link.pending + " " + T.pending + " (" + T.oldest + " " + age(link.oldest_pending_age_s) + ")");
    parts.push(T["last-delivery"] + ": " + age(link.last_delivery_age_s));
    if (link.quarantined) parts.push(link.quarantined + " " + T.quarantined);
    text("link-detail", parts.join(" · "));
  }

  function renderButtons(actions) {
    document.querySelectorAll("footer button").forEach((button) => {
      const ok = actions[button.dataset.button] !== false;
      button.disabled = !ok;
      button.title = ok ? "" : T.unavailable;
    });
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
    renderLast(state.last);
    renderTube(state.tube);
    text("today-people", state.today.people);
    text("today-tubes", state.today.tubes);
    renderLink(state.link);
    text("notice", state.notice ? state.notice.message : "");
    renderButtons(state.actions || {});
    const img = $("preview");
    $("preview-box").hidden = !state.preview;
    if (state.preview && !img.getAttribute("src")) img.src = img.dataset.src;
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
    document.querySelectorAll("footer button").forEach((button) => {
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
      render(state);
    };
    source.onerror = () => { $("offline-banner").hidden = false; };   // EventSource retries by itself
  }

  wireButtons();
  connect();
})();
