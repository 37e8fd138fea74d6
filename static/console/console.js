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
// (without JavaScript those buttons submit and the server applies the move).
htmx.onLoad(function (root) {
  root.querySelectorAll("[data-sortable]").forEach(function (list) {
    if (list.dataset.sortableReady) { return; }
    list.dataset.sortableReady = "1";
    if (window.Sortable) {
      Sortable.create(list, { handle: ".mc-drag-handle", animation: 150, forceFallback: true });
    }
    list.addEventListener("click", function (event) {
      var button = event.target.closest("[data-move]");
      if (!button) { return; }
      event.preventDefault();
      var item = button.closest("li");
      if (button.dataset.move === "up" && item.previousElementSibling) {
        item.parentNode.insertBefore(item, item.previousElementSibling);
      } else if (button.dataset.move === "down" && item.nextElementSibling) {
        item.parentNode.insertBefore(item.nextElementSibling, item);
      }
      button.focus();
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
