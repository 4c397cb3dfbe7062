// The review side of a video's page: the live refresh rests while nobody looks,
// swaps of the comment list never take away what someone is typing, and the new
// comment's range comes from the player's in/out marks. Everything hangs off
// ids and data-* attributes (the Content-Security-Policy forbids inline handlers).
(function () {
  "use strict";
  var gettext = window.gettext; // Django's JavaScript catalogue (base.html)

  function hidden() {
    return document.hidden || document.visibilityState === "hidden";
  }

  // The forms whose own answers are on their way: theirs is swapped in (reset,
  // or with its error), never kept as it was. A live refresh in between changes nothing.
  var asking = [];

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (elt.id === "detail-live") {
      // Nobody is looking at a hidden tab: skip the refresh until it is shown.
      if (hidden()) event.preventDefault();
      return;
    }
    asking.push(elt.closest ? elt.closest("form") || elt : elt);
  });
  // After the answer was swapped in (htmx swaps before it says the request ended).
  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt;
    var form = elt.closest ? elt.closest("form") || elt : elt;
    asking = asking.filter(function (other) {
      return other !== form && other !== elt;
    });
  });
  // The video was deleted while the page was open: the 404 says so in the live element's place.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.elt.id === "detail-live" && event.detail.xhr.status === 404) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  document.addEventListener("visibilitychange", function () {
    var live = document.getElementById("detail-live");
    if (!hidden() && live && window.htmx) window.htmx.trigger(live, "wake");
  });

  function twin(fragment, id) {
    if (fragment.id === id) return fragment;
    return fragment.querySelector ? fragment.querySelector("#" + CSS.escape(id)) : null;
  }

  function busy(element) {
    var answered = asking.some(function (form) {
      return element === form || element.contains(form);
    });
    if (answered) return false;
    if (element.classList.contains("is-editing")) return true;
    var field = element.querySelector("textarea");
    return !!field && (field.value.trim() !== "" || field === document.activeElement);
  }

  // Before a new comment list replaces the old: open disclosures ("Show
  // resolved", a reply) stay open, and an editor or a reply being written
  // stays exactly as it is (htmx's hx-preserve moves the element itself over).
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    var fragment = event.detail.fragment;
    if (!target || target.id !== "comment-list" || !fragment) return;
    target.querySelectorAll("details[id]").forEach(function (details) {
      var other = twin(fragment, details.id);
      if (other) other.open = details.open;
    });
    target.querySelectorAll("form[data-keep-typing][id], article.is-editing[id]").forEach(function (element) {
      var other = twin(fragment, element.id);
      if (other && busy(element)) other.setAttribute("hx-preserve", "");
    });
  });
  // Whose answer htmx swaps in now: the element that asked (htmx:beforeSwap comes just before).
  var answering = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var elt = event.detail.elt;
    answering = elt && elt.closest ? elt.closest("form") || elt : elt;
  });
  document.addEventListener("htmx:afterRequest", function () {
    answering = null;
  });

  // A request from inside the list whose answer is on its way (a reply, a resolve, an edit
  // sent) needs its element on the page: htmx looks for the answer's out-of-band targets in
  // the document of the element that asked, and one this swap took away would find none
  // (htmx:oobErrorNoTarget, and the answer lost). So a swap that is not its own answer (a
  // live refresh) keeps it, or its nearest part with an id, in that part's place in the new list.
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    var fragment = event.detail.fragment;
    if (!target || target.id !== "comment-list" || !fragment) return;
    asking.forEach(function (element) {
      if (element === answering || !target.contains(element)) return;
      for (var node = element; node && node !== target; node = node.parentElement) {
        var other = node.id ? twin(fragment, node.id) : null;
        if (other) {
          other.replaceWith(node);
          return;
        }
      }
    });
  });
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "comment-list") {
      document.dispatchEvent(new CustomEvent("studio:comments-changed"));
    }
  });

  // --- The new comment's moment: a point, or the player's in/out range ---

  function studioPlayer() {
    return window.StudioPlayer || null;
  }

  function clock(seconds) {
    if (window.StudioPlayerLib && window.StudioPlayerLib.clock) return window.StudioPlayerLib.clock(seconds);
    var whole = Math.floor(seconds || 0);
    var secs = whole % 60;
    return Math.floor(whole / 60) + ":" + (secs < 10 ? "0" : "") + secs;
  }

  function range() {
    var player = studioPlayer();
    var marked = player && player.getRange ? player.getRange() : null;
    if (!marked || marked["in"] == null || marked.out == null || marked.out <= marked["in"]) return null;
    return marked;
  }

  function labelRanges() {
    var marked = range();
    document.querySelectorAll("[data-comment-form] [data-range-label]").forEach(function (label) {
      label.textContent = marked ? clock(marked["in"]) + "–" + clock(marked.out) : gettext("(mark in/out: I, O)");
    });
  }
  document.addEventListener("studio:player-time", labelRanges);
  document.addEventListener("studio:player-ready", labelRanges);
  document.addEventListener("keyup", labelRanges);
  document.addEventListener("click", function () {
    window.setTimeout(labelRanges, 0);
  });

  // What the form sends as its moment: the range when "Range" is ticked and
  // one is marked; the position now when something is drawn (a drawing is on a frame).
  function moment(form) {
    var rangeToggle = form.querySelector("[data-range-toggle]");
    var atToggle = form.querySelector("[data-at-toggle]");
    var marked = rangeToggle && rangeToggle.checked ? range() : null;
    if (marked) return { at: marked["in"].toFixed(3), end: marked.out.toFixed(3) };
    var drawing = form.querySelector("[name=drawing]");
    var at = form.querySelector("[name=at_seconds]");
    var player = studioPlayer();
    var video = (player && player.video) || document.getElementById("player");
    if (drawing && drawing.value && video) return { at: video.currentTime.toFixed(3), end: "" };
    if (atToggle && !atToggle.checked) return { at: "", end: "" };
    return { at: at ? at.value : "", end: "" };
  }

  // htmx reads the form after every submit listener ran (player.js fills
  // at_seconds there): this is the last word on what is sent.
  document.addEventListener("htmx:configRequest", function (event) {
    var form = event.detail.elt;
    if (!form.matches || !form.matches("[data-comment-form]")) return;
    var chosen = moment(form);
    event.detail.parameters.at_seconds = chosen.at;
    event.detail.parameters.end_seconds = chosen.end;
  });
  // Without htmx (a plain post) the hidden fields are what is sent.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("[data-comment-form]") || form.hasAttribute("hx-post")) return;
    var chosen = moment(form);
    form.querySelector("[name=at_seconds]").value = chosen.at;
    form.querySelector("[name=end_seconds]").value = chosen.end;
  });
  document.addEventListener("change", function (event) {
    if (!event.target.matches("[data-range-toggle]")) return;
    var form = event.target.closest("form");
    var atToggle = form && form.querySelector("[data-at-toggle]");
    // A range is a moment too: ticking it ticks "at".
    if (event.target.checked && atToggle) atToggle.checked = true;
    labelRanges();
  });
})();
