// Side sheet: htmx loads a form into #side-sheet-body; show the offcanvas when it arrives and
// hide it when the server answers a successful save with HX-Trigger: sheet:close; once hidden,
// the keyboard focus goes back to the control that opened it.
(function () {
  function sheet() {
    return bootstrap.Offcanvas.getOrCreateInstance(document.getElementById("side-sheet"));
  }
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    // A successful save swaps nothing into the sheet (HX-Reswap: none) and closes it instead.
    if (target && target.id === "side-sheet-body" && target.children.length > 0 && !event.detail.requestConfig.verb.match(/post/i)) {
      sheet().show();
      var first = target.querySelector("input:not([type=hidden]), select, textarea");
      if (first) { first.focus(); }
    }
  });
  document.body.addEventListener("sheet:close", function () { sheet().hide(); });
  // data-sheet-state tells scripts and tests when the slide-in has finished (positions are final).
  var el = document.getElementById("side-sheet");
  el.addEventListener("shown.bs.offcanvas", function () {
    el.dataset.sheetState = "shown";
    // Bootstrap's focus trap put the focus on the sheet itself as it slid in: onto its first field.
    if (document.activeElement === el) {
      var first = el.querySelector("#side-sheet-body input:not([type=hidden]), #side-sheet-body select, #side-sheet-body textarea");
      if (first) { first.focus(); }
    }
  });
  el.addEventListener("hide.bs.offcanvas", function () { delete el.dataset.sheetState; });

  // Closing the sheet (Close, Escape, the backdrop, a save) gives the keyboard back to the control
  // that opened it, as a dialog does, instead of leaving it on <body>. That control may be gone or
  // hidden by then (a save re-rendered its section, a menu closed): then the same link again, else
  // the toggle of the menu it was in, else the page's main content.
  var opener = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var target = event.detail.target, elt = event.detail.elt;
    if (target && target.id === "side-sheet-body" && elt && !el.contains(elt)) { opener = elt; }
  });
  function visible(node) {
    return node && node.isConnected && node.getClientRects().length > 0 && !node.closest("[hidden], [inert]");
  }
  function menuToggle(node) {
    var menu = node && node.closest(".dropdown, .btn-group, .dropup, .dropstart, .dropend");
    return menu && menu.querySelector("[data-bs-toggle=dropdown]");
  }
  function returnTarget(node) {
    if (!node) { return null; }
    if (visible(node)) { return node; }
    if (node.isConnected && visible(menuToggle(node))) { return menuToggle(node); }
    var url = node.getAttribute("hx-get");
    var again = url && Array.prototype.find.call(document.querySelectorAll("[hx-get]"), function (other) {
      return other.getAttribute("hx-get") === url && !el.contains(other);
    });
    if (again) { return visible(again) ? again : (visible(menuToggle(again)) ? menuToggle(again) : null); }
    return null;
  }
  el.addEventListener("hidden.bs.offcanvas", function () {
    var active = document.activeElement;
    // Only when the focus is lost (on <body> or still in the hidden sheet): never take it from
    // where the user has put it meanwhile.
    if (active && active !== document.body && !el.contains(active)) { opener = null; return; }
    var to = returnTarget(opener);
    opener = null;
    if (!to) {
      to = document.getElementById("main");
      if (!to) { return; }
      if (!to.hasAttribute("tabindex")) { to.setAttribute("tabindex", "-1"); }
    }
    to.focus();
  });
})();

// The conversation configuration wizard: when a step arrives after a button press, put the keyboard
// on the first field with an error, else the row just added, else the step's first field (the
// heading when none). htmx: right after the swap (in the same task, so no keystroke lands between);
// a plain POST that loaded the page before htmx was ready: on load, unless the user already moved.
(function () {
  // By markers on elements without ids: until htmx settles, a swapped element whose id the old
  // content had still wears the old attributes (no is-invalid yet).
  function focusStep(root) {
    var error = root.querySelector("[data-error-for]");
    var field = (error && document.getElementById(error.dataset.errorFor)) || root.querySelector("[data-focus]") ||
      root.querySelector(".card-body input:not([type=hidden]), .card-body select, .card-body textarea");
    (field || root.querySelector("#wizard-step-title")).focus();
  }
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.target.id === "wizard") { focusStep(event.target); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    var root = document.querySelector("#wizard[data-posted]");
    if (root && (!document.activeElement || document.activeElement === document.body)) { focusStep(root); }
  });
})();

// Edit priority: SortableJS drag and drop, plus up/down buttons that move the row in place
// (without JavaScript those buttons submit and the server applies the move). Each move is said in
// the form's polite live region ("Email moved to priority 2."), for screen readers that do not
// see the row move; a move that cannot happen says where the rule stays.
function announce(list, item, moved) {
  var status = list.parentNode.querySelector("[data-priority-status]");
  if (!status) { return; }
  var position = Array.prototype.indexOf.call(list.children, item) + 1;
  var name = item.dataset.ruleName || item.dataset.rule;
  var text = moved ? name + " moved to priority " + position + "."
    : name + " stays at priority " + position + (position === 1 ? " (the highest)." : " (the lowest).");
  status.textContent = text;
}
htmx.onLoad(function (root) {
  root.querySelectorAll("[data-sortable]").forEach(function (list) {
    if (list.dataset.sortableReady) { return; }
    list.dataset.sortableReady = "1";
    if (window.Sortable) {
      Sortable.create(list, {
        handle: ".mc-drag-handle", animation: 150, forceFallback: true,
        onEnd: function (event) { if (event.oldIndex !== event.newIndex) { announce(list, event.item, true); } },
      });
    }
    list.addEventListener("click", function (event) {
      var button = event.target.closest("[data-move]");
      if (!button) { return; }
      event.preventDefault();
      var item = button.closest("li");
      var moved = false;
      if (button.dataset.move === "up" && item.previousElementSibling) {
        item.parentNode.insertBefore(item, item.previousElementSibling);
        moved = true;
      } else if (button.dataset.move === "down" && item.nextElementSibling) {
        item.parentNode.insertBefore(item.nextElementSibling, item);
        moved = true;
      }
      button.focus();
      announce(list, item, moved);
    });
  });
});

// A request htmx sent that failed (the database busy behind an import, a refusal, a server error,
// no network): say so where the user is looking instead of leaving the form as if nothing happened.
// The page the server answered with gives the reason when it has one.
(function () {
  function show(text) {
    var sheet = document.getElementById("side-sheet");
    var where = sheet.classList.contains("show")
      ? document.getElementById("side-sheet-body")
      : document.getElementById("messages");
    var old = where.querySelector("[data-request-error]");
    if (old) { old.remove(); }
    var box = document.createElement("div");
    box.className = "alert alert-danger alert-dismissible m-3";
    box.setAttribute("role", "alert");
    box.dataset.requestError = "1";
    box.textContent = text;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close";
    close.setAttribute("data-bs-dismiss", "alert");
    close.setAttribute("aria-label", "Close");
    box.appendChild(close);
    where.prepend(box);
  }
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var page = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
    var reason = page.querySelector("[data-testid=busy-reason], [data-testid=forbidden-reason]");
    if (reason) {
      show(reason.textContent.trim());
    } else if (xhr.status >= 500) {
      show("Something went wrong on the server (" + xhr.status + "). Try again in a moment.");
    } else {
      show("The request was refused (" + xhr.status + "). Reload the page and try again.");
    }
  });
  document.addEventListener("htmx:sendError", function () {
    show("The console could not reach the server. Check the connection and try again.");
  });
})();

// The identity rule form: the mapped-traits picker shows only while "Mapped traits" is chosen as
// the rule's source; hidden, it is disabled (so nothing picked is sent) and its choice cleared.
htmx.onLoad(function (root) {
  root.querySelectorAll("[data-shown-when-source]").forEach(function (picker) {
    var form = picker.form;
    if (!form || picker.dataset.sourceReady) { return; }
    picker.dataset.sourceReady = "1";
    var wrapper = picker.closest(".mb-3") || picker.parentNode;
    function sync() {
      var chosen = form.querySelector("input[name=source]:checked");
      var shown = !!chosen && chosen.value === picker.dataset.shownWhenSource;
      wrapper.hidden = !shown;
      picker.disabled = !shown;
      if (!shown) { Array.prototype.forEach.call(picker.options, function (option) { option.selected = false; }); }
    }
    form.querySelectorAll("input[name=source]").forEach(function (radio) { radio.addEventListener("change", sync); });
    sync();
  });
});

// A copy button (data-copy="#id"): copies that element's text to the clipboard and says so in the
// nearby live region (data-copy-status). The Clipboard API needs a secure context (HTTPS or
// localhost); elsewhere the text is selected and copied the old way, or left selected for Ctrl+C.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) { return; }
  var source = document.querySelector(button.dataset.copy);
  if (!source) { return; }
  var text = source.textContent.trim();
  var status = button.parentNode.parentNode.querySelector("[data-copy-status]");
  function say(message) { if (status) { status.textContent = message; } }
  function fallback() {
    var range = document.createRange();
    range.selectNodeContents(source);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    var copied = false;
    try { copied = document.execCommand("copy"); } catch (e) { copied = false; }
    say(copied ? "Copied to the clipboard." : "Selected: press Ctrl+C (⌘C) to copy.");
  }
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(function () { say("Copied to the clipboard."); }, fallback);
  } else {
    fallback();
  }
});

// Inline trait edits on the profile page (form[data-inline-edit] in a table row): Escape cancels
// as the Cancel link does (the row shows the stored value again, nothing saved). Once the read-only
// row is back (Cancel, Escape or a save), the keyboard goes to its Edit button, not to <body>.
(function () {
  var rowId = null;
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || event.defaultPrevented) { return; }
    var form = event.target.closest && event.target.closest("form[data-inline-edit]");
    var cancel = form && form.querySelector("[data-inline-cancel]");
    if (!cancel) { return; }
    event.preventDefault();
    cancel.click();
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    var form = elt && elt.closest && elt.closest("form[data-inline-edit]");
    rowId = form ? form.closest("tr").id : null;
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (!rowId) { return; }
    var row = document.getElementById(rowId);
    // Another request settled first (the row still holds its form): wait for the row's own answer.
    if (row && row.querySelector("form[data-inline-edit]")) { return; }
    rowId = null;
    var edit = row && !row.querySelector("form[data-inline-edit]") && row.querySelector("[data-inline-open]");
    var active = document.activeElement;
    if (edit && (!active || active === document.body || !active.isConnected)) { edit.focus(); }
  });
})();

// An array trait's inline edit as a token list: each item a chip with its Remove button, a box and
// an Add button (Enter in the box adds) for a new item. The value sent is the same JSON array the
// plain box held (the trait rule reads it: `traits.coercion`): the items the page had keep their
// exact JSON text (digits, types), a new item is a JSON string. The field is only rewritten once
// the list changes, so saving an untouched list sends the value as it came. A value that is not a
// JSON array (the empty string) starts an empty list; without JavaScript the JSON box stays.
htmx.onLoad(function (root) {
  var inputs = root.matches && root.matches("[data-token-list]") ? [root] : root.querySelectorAll("[data-token-list]");
  Array.prototype.forEach.call(inputs, function (input) {
    if (input.dataset.tokenReady) { return; }
    var items = splitArray(input.value.trim());
    if (items === null) { return; }
    input.dataset.tokenReady = "1";
    var name = input.dataset.tokenList;
    var hadFocus = document.activeElement === input;
    var box = document.createElement("div");
    box.className = "mc-token-list";
    var list = document.createElement("ul");
    list.className = "list-unstyled d-flex flex-wrap gap-1 mb-1";
    list.setAttribute("aria-label", "Items of " + name);
    list.dataset.testid = "token-items";
    var row = document.createElement("div");
    row.className = "input-group input-group-sm";
    var add = document.createElement("input");
    add.type = "text";
    add.className = "form-control";
    add.setAttribute("aria-label", "New item of " + name);
    add.placeholder = "New item";
    var addButton = document.createElement("button");
    addButton.type = "button";
    addButton.className = "btn btn-outline-secondary";
    addButton.textContent = "Add item";
    var status = document.createElement("div");
    status.className = "visually-hidden";
    status.setAttribute("aria-live", "polite");
    row.append(add, addButton);
    box.append(list, row, status);
    input.type = "hidden";
    input.removeAttribute("autofocus");
    input.after(box);

    // As the profile page shows an item: a string as itself unless it is empty or has spaces at an
    // end (then as JSON, so it can be seen); numbers, true, false and null as written.
    function text(raw) {
      var value = JSON.parse(raw);
      return typeof value === "string" && value !== "" && value === value.trim() ? value : raw;
    }
    function write() { input.value = "[" + items.join(",") + "]"; }
    function chip(raw) {
      var li = document.createElement("li");
      li.className = "badge text-bg-light border d-inline-flex align-items-center gap-1 fw-normal fs-6";
      var label = document.createElement("span");
      label.textContent = text(raw);
      label.style.whiteSpace = "pre-wrap";
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "btn-close";
      remove.setAttribute("aria-label", "Remove " + text(raw));
      remove.addEventListener("click", function () {
        var index = Array.prototype.indexOf.call(list.children, li);
        items.splice(index, 1);
        write();
        li.remove();
        status.textContent = "Removed " + text(raw) + ".";
        var next = list.children[index] || list.children[index - 1];
        (next ? next.querySelector("button") : add).focus();
      });
      li.append(label, remove);
      return li;
    }
    items.forEach(function (raw) { list.appendChild(chip(raw)); });
    function addItem() {
      if (add.value === "") { return false; }
      var raw = JSON.stringify(add.value);
      items.push(raw);
      write();
      list.appendChild(chip(raw));
      status.textContent = "Added " + add.value + ".";
      add.value = "";
      add.focus();
      return true;
    }
    addButton.addEventListener("click", addItem);
    add.addEventListener("keydown", function (event) {
      // Enter adds what is typed; in an empty box it saves the form as before.
      if (event.key === "Enter" && add.value !== "") { event.preventDefault(); addItem(); }
    });
    if (hadFocus) { add.focus(); }
  });

  // A JSON array of scalars as the JSON text of each item, split at the commas outside strings;
  // "" as no items; anything else null (left as a plain box).
  function splitArray(source) {
    if (source === "") { return []; }
    var parsed;
    try { parsed = JSON.parse(source); } catch (e) { return null; }
    if (!Array.isArray(parsed) || parsed.some(function (v) { return v !== null && typeof v === "object"; })) { return null; }
    var out = [], start = 1, inString = false;
    for (var i = 1; i < source.length - 1; i++) {
      var c = source[i];
      if (inString) {
        if (c === "\\") { i++; } else if (c === '"') { inString = false; }
      } else if (c === '"') {
        inString = true;
      } else if (c === ",") {
        out.push(source.slice(start, i).trim());
        start = i + 1;
      }
    }
    var last = source.slice(start, source.length - 1).trim();
    if (last !== "" || out.length) { out.push(last); }
    return out.length === parsed.length ? out : null;
  }
});
