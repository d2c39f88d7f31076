/*
 * The admin's keyboard (docs/admin.md, "Keyboard"). An enhancement only: every page works the
 * same without this script, and nothing here submits a form.
 *
 * In a change list (#result_list): j / k move the highlight down / up, o or Enter opens the
 * highlighted row, x ticks its action checkbox; / focuses the search box.
 * On any page, an element with data-key="c" answers the key c: a <summary> opens its panel and
 * focuses the panel's first field, a link is followed, a form focuses its first field, a field or
 * button is focused. The template renders data-key only for what the person may do now.
 * ? shows or hides the list of the page's keys; Escape closes it and leaves the field typed in.
 */
(function () {
  "use strict";

  const CURRENT = "ts-current";
  const OVERLAY_ID = "ts-keys-help";
  // Inputs that take no typed text: keys still work while one of them has the focus.
  const NOT_TEXT = new Set(["checkbox", "radio", "button", "submit", "reset", "image", "file", "range", "color"]);
  const FIELDS = "input:not([type=hidden]):not([disabled]), textarea:not([disabled]), select:not([disabled]), button:not([disabled])";

  let overlay = null;
  let focusBeforeOverlay = null;

  function isTyping(element) {
    if (!element || element === document.body) {
      return false;
    }
    if (element.isContentEditable) {
      return true;
    }
    const tag = element.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") {
      return true;
    }
    return tag === "INPUT" && !NOT_TEXT.has((element.type || "text").toLowerCase());
  }

  function isField(element) {
    return Boolean(element) && element.matches("input, textarea, select, button, [contenteditable]");
  }

  // --- the change list -----------------------------------------------------------------------

  function rows() {
    const table = document.getElementById("result_list");
    return table ? Array.from(table.querySelectorAll("tbody tr")) : [];
  }

  function rowLink(row) {
    return row.querySelector("th a[href]") || row.querySelector("a[href]");
  }

  function currentIndex(list) {
    return list.findIndex((row) => row.classList.contains(CURRENT));
  }

  function highlight(list, index) {
    list.forEach((row) => {
      row.classList.remove(CURRENT);
      row.removeAttribute("aria-selected");
    });
    const row = list[index];
    row.classList.add(CURRENT);
    row.setAttribute("aria-selected", "true");
    const link = rowLink(row);
    if (link) {
      link.focus({ preventScroll: true });
    }
    row.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    const list = rows();
    if (list.length === 0) {
      return false;
    }
    const at = currentIndex(list);
    const next = at < 0 ? 0 : Math.min(list.length - 1, Math.max(0, at + step));
    highlight(list, next);
    return true;
  }

  function openCurrent() {
    const list = rows();
    const at = currentIndex(list);
    const link = at < 0 ? null : rowLink(list[at]);
    if (!link) {
      return false;
    }
    link.click();
    return true;
  }

  function tickCurrent() {
    const list = rows();
    const at = currentIndex(list);
    const box = at < 0 ? null : list[at].querySelector("input.action-select, td.action-checkbox input[type=checkbox]");
    if (!box) {
      return false;
    }
    box.click(); // Django's actions.js follows the click: the row's colour, the counter.
    return true;
  }

  function focusSearch() {
    const search = document.getElementById("searchbar");
    if (!search) {
      return false;
    }
    search.focus();
    search.select();
    return true;
  }

  // --- the page's own keys (data-key) -------------------------------------------------------

  function keyed() {
    const seen = new Set();
    return Array.from(document.querySelectorAll("[data-key]")).filter((element) => {
      const key = element.dataset.key;
      if (!key || seen.has(key)) {
        return false;
      }
      seen.add(key);
      return true;
    });
  }

  function firstField(container) {
    return Array.from(container.querySelectorAll(FIELDS)).find((field) => field.offsetParent !== null) || null;
  }

  function bringIntoView(target) {
    target.scrollIntoView({ block: "center" });
    target.focus({ preventScroll: true });
  }

  function activate(element) {
    if (element.tagName === "SUMMARY" && element.parentElement.tagName === "DETAILS") {
      const details = element.parentElement;
      details.open = true;
      bringIntoView(firstField(details) || element);
    } else if (element.tagName === "A") {
      element.click();
    } else if (isField(element)) {
      bringIntoView(element);
    } else {
      bringIntoView(firstField(element) || element);
    }
  }

  function labelOf(element) {
    if (element.dataset.keyLabel) {
      return element.dataset.keyLabel;
    }
    const copy = element.cloneNode(true);
    copy.querySelectorAll("kbd").forEach((kbd) => kbd.remove());
    return copy.textContent.trim();
  }

  // --- the list of keys (?) ------------------------------------------------------------------

  function entries() {
    const list = [];
    if (document.getElementById("result_list")) {
      list.push(["j", "Next row"], ["k", "Previous row"], ["o", "Open the highlighted row"], ["Enter", "Open the highlighted row"]);
      if (document.querySelector("#result_list input.action-select")) {
        list.push(["x", "Tick the highlighted row (for an action on the list)"]);
      }
    }
    if (document.getElementById("searchbar")) {
      list.push(["/", "Search"]);
    }
    keyed().forEach((element) => list.push([element.dataset.key, labelOf(element)]));
    list.push(["?", "Show or hide this list"], ["Esc", "Close this list; leave the field typed in"]);
    return list;
  }

  function buildOverlay() {
    const box = document.createElement("div");
    box.id = OVERLAY_ID;
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-modal", "true");
    box.setAttribute("aria-labelledby", OVERLAY_ID + "-title");
    box.tabIndex = -1;
    const title = document.createElement("h2");
    title.id = OVERLAY_ID + "-title";
    title.textContent = "Keyboard shortcuts";
    const table = document.createElement("table");
    const body = document.createElement("tbody");
    entries().forEach(([key, what]) => {
      const row = document.createElement("tr");
      row.className = "ts-keys-row";
      const keyCell = document.createElement("th");
      const kbd = document.createElement("kbd");
      kbd.textContent = key;
      keyCell.appendChild(kbd);
      const whatCell = document.createElement("td");
      whatCell.textContent = what;
      row.append(keyCell, whatCell);
      body.appendChild(row);
    });
    table.appendChild(body);
    const close = document.createElement("button");
    close.type = "button";
    close.className = "button";
    close.textContent = "Close";
    close.addEventListener("click", hideOverlay);
    box.append(title, table, close);
    return box;
  }

  function showOverlay() {
    focusBeforeOverlay = document.activeElement;
    overlay = buildOverlay(); // built each time: the page's keys may have changed
    document.body.appendChild(overlay);
    overlay.focus();
  }

  function hideOverlay() {
    if (!overlay) {
      return;
    }
    overlay.remove();
    overlay = null;
    if (focusBeforeOverlay && document.contains(focusBeforeOverlay) && !isTyping(focusBeforeOverlay)) {
      focusBeforeOverlay.focus({ preventScroll: true });
    }
    focusBeforeOverlay = null;
  }

  // --- dispatch ------------------------------------------------------------------------------

  function onKey(event) {
    if (event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey || event.isComposing) {
      return;
    }
    const key = event.key;
    const active = document.activeElement;
    if (key === "Escape") {
      if (overlay) {
        hideOverlay();
        event.preventDefault();
      } else if (isField(active)) {
        active.blur();
      }
      return;
    }
    if (isTyping(active)) {
      return;
    }
    if (key === "?") {
      if (overlay) {
        hideOverlay();
      } else {
        showOverlay();
      }
      event.preventDefault();
      return;
    }
    if (overlay) {
      return; // only ? and Escape while the list is open
    }
    let done = false;
    if (key === "j") {
      done = move(1);
    } else if (key === "k") {
      done = move(-1);
    } else if (key === "o") {
      done = openCurrent();
    } else if (key === "Enter") {
      // A focused link or button answers Enter itself.
      done = isField(active) || (active && active.tagName === "A") ? false : openCurrent();
    } else if (key === "x") {
      done = tickCurrent();
    } else if (key === "/") {
      done = focusSearch();
    } else if (key.length === 1) {
      const element = keyed().find((candidate) => candidate.dataset.key === key);
      if (element) {
        activate(element);
        done = true;
      }
    }
    if (done) {
      event.preventDefault();
    }
  }

  document.documentElement.classList.add("ts-keys-on");
  document.addEventListener("keydown", onKey);
})();
