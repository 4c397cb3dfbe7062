// Small behaviours shared by every page. No inline handlers: the
// Content-Security-Policy forbids them, so everything hangs off data-* attributes.
// Words come from Django's JavaScript catalogue (gettext, ngettext, interpolate: the
// /jsi18n/<language>.js script base.html loads first); numbers and times from Intl in
// the page's language (<html lang>).
(function () {
  "use strict";
  var gettext = window.gettext, interpolate = window.interpolate;
  var LANGUAGE = document.documentElement.lang || "en";

  document.documentElement.classList.add("js");

  // A <select data-autosubmit> saves as soon as it changes (its Save button is
  // only there for people without JavaScript).
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("select[data-autosubmit]")) {
      var form = event.target.form;
      if (form.requestSubmit) form.requestSubmit(); else form.submit();
    }
  });

  // Forms that destroy something ask first: <form data-confirm="Remove Bob?">.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // A plain post (Delete, say) leaves the page once it is answered: the live refresh stops now.
  // Asked meanwhile, it would find the video it watches already deleted (a 404 in the console).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !form.matches || (form.method || "").toLowerCase() !== "post") return;
    if (form.hasAttribute("hx-post") || form.hasAttribute("hx-get") || form.target === "_blank") return;
    document.querySelectorAll("#gallery-live, #detail-live").forEach(function (live) {
      if (window.htmx) htmx.trigger(live, "htmx:abort");
      live.remove();
    });
  });

  // Copy buttons: <button data-copy="#invite-link">Copy</button>.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.value || source.textContent;
    var done = function () {
      var label = button.textContent;
      button.textContent = gettext("Copied");
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done);
    } else if (source.select) {
      source.select();
      document.execCommand("copy");
      done();
    }
  });

  // Only one drop-down menu open at a time, and a click elsewhere closes it.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });

  // One persistent live region (#announcer in base.html) says what changed.
  // document.dispatchEvent(new CustomEvent("studio:announce", {detail: "Video ready"}))
  // announces a sentence; an element swapped in by htmx with data-announce="..."
  // is announced once. Regions re-rendered on every poll are not used: screen
  // readers drop a region replaced under them, or read it again each time.
  var announceTimer = null;
  function announce(text) {
    var region = document.getElementById("announcer");
    text = text == null ? "" : String(text).trim();
    if (!region || !text) return;
    // Empty it first, so the same sentence twice is still news.
    region.textContent = "";
    clearTimeout(announceTimer);
    announceTimer = setTimeout(function () {
      region.textContent = text;
      // Said: empty it after a while (removals are not read), so old news is not found later.
      announceTimer = setTimeout(function () { region.textContent = ""; }, 10000);
    }, 60);
  }
  window.studioAnnounce = announce;
  document.addEventListener("studio:announce", function (event) { announce(event.detail); });

  function announceSwapped(root) {
    if (!root || !root.querySelectorAll) return;
    var found = Array.prototype.slice.call(root.querySelectorAll("[data-announce]:not([data-announced])"));
    if (root.matches && root.matches("[data-announce]:not([data-announced])")) found.unshift(root);
    var texts = [];
    found.forEach(function (element) {
      element.setAttribute("data-announced", "");
      var text = element.getAttribute("data-announce");
      if (text && texts.indexOf(text) < 0) texts.push(text);
    });
    if (texts.length) announce(texts.join(" "));
  }
  // A live refresh (#gallery-live, #detail-live) whose element was replaced while it asked (a
  // filter change, or a comment's or a review's answer carrying a newer live element) is
  // dropped: htmx would look for its out-of-band targets around the detached element and find
  // none (htmx:oobErrorNoTarget). The element that replaced it asks again from its own version.
  function dropIfDetached(event) {
    if (!document.body.contains(event.currentTarget)) event.detail.shouldSwap = false;
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (!elt || (elt.id !== "gallery-live" && elt.id !== "detail-live") || elt.studioDropsDetached) return;
    elt.studioDropsDetached = true;
    elt.addEventListener("htmx:beforeSwap", dropIfDetached);
  });
  // A polled fragment says what it shows with data-announce-change="Processing" (and an id):
  // only a change from what the element it replaces said is announced, not every poll.
  var said = {};
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!target || !target.querySelectorAll) return;
    var found = Array.prototype.slice.call(target.querySelectorAll("[id][data-announce-change]"));
    if (target.matches("[id][data-announce-change]")) found.push(target);
    found.forEach(function (element) { said[element.id] = element.getAttribute("data-announce-change"); });
  });
  document.addEventListener("htmx:load", function (event) {
    var root = event.target;
    if (!root || !root.querySelectorAll) return;
    var found = Array.prototype.slice.call(root.querySelectorAll("[id][data-announce-change]"));
    if (root.matches && root.matches("[id][data-announce-change]")) found.push(root);
    found.forEach(function (element) {
      var now = element.getAttribute("data-announce-change");
      if (element.id in said && said[element.id] !== now) announce(now);
      delete said[element.id];
    });
  });

  // Cards (the gallery's live refresh, the composer's polls) say when their status changes:
  // the status each card showed is remembered, and a swapped-in card is compared with it.
  var NEWS = {
    processing: gettext("“%(title)s” is rendering."),
    downloading: gettext("“%(title)s” is being saved."),
    ready: gettext("“%(title)s” is ready to play."),
    failed: gettext("“%(title)s” failed."),
    expired: gettext("“%(title)s” expired before it was saved."),
    unknown: gettext("“%(title)s” may or may not have been made.")
  };
  var cardStatus = {};
  function cardsIn(root) {
    if (!root || !root.querySelectorAll) return [];
    var cards = Array.prototype.slice.call(root.querySelectorAll("article.gcard[id][data-status]"));
    if (root.matches && root.matches("article.gcard[id][data-status]")) cards.push(root);
    return cards;
  }
  function titleOf(card) {
    var title = card.querySelector(".gcard-title");
    var text = title ? title.textContent.trim() : gettext("A video");
    return text.length > 60 ? text.slice(0, 57) + "…" : text;
  }
  function rememberCards() {
    cardsIn(document).forEach(function (card) { cardStatus[card.id] = card.getAttribute("data-status"); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", rememberCards);
  else rememberCards();
  document.addEventListener("htmx:load", function (event) {
    cardsIn(event.target).forEach(function (card) {
      var before = cardStatus[card.id], now = card.getAttribute("data-status");
      cardStatus[card.id] = now;
      if (before && before !== now && NEWS[now]) announce(interpolate(NEWS[now], { title: titleOf(card) }, true));
    });
  });

  // Only what htmx brings in is news (htmx:load fires on each swapped-in element, out of
  // band ones too); what came with the page is marked as read before htmx's first load.
  document.addEventListener("htmx:load", function (event) { announceSwapped(event.target); });
  function markLoaded() {
    document.querySelectorAll("[data-announce]").forEach(function (element) {
      element.setAttribute("data-announced", "");
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", markLoaded);
  else markLoaded();

  // A GET form with data-drop-empty leaves its empty fields out of the URL, so
  // a bookmark reads ?status=ready, not ?q=&author=&status=ready&review=...
  // htmx requests (and the URLs they push) drop them here; a plain submit
  // (Enter in a field with htmx not loaded yet) disables them for the moment.
  document.addEventListener("htmx:configRequest", function (event) {
    var elt = event.detail.elt;
    var form = elt && elt.closest ? elt.closest("form[data-drop-empty]") : null;
    if (!form || (event.detail.verb || "").toLowerCase() !== "get") return;
    var parameters = event.detail.parameters;
    var names = [];
    if (parameters && typeof parameters.forEach === "function" && typeof parameters.delete === "function") {
      parameters.forEach(function (value, name) { if (value === "") names.push(name); });
      names.forEach(function (name) {
        if (parameters.getAll(name).every(function (value) { return value === ""; })) parameters.delete(name);
      });
    } else if (parameters) {
      Object.keys(parameters).forEach(function (name) {
        if (parameters[name] === "") delete parameters[name];
      });
    }
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !form.matches || !form.matches("form[data-drop-empty]")) return;
    var emptied = [];
    Array.prototype.forEach.call(form.elements, function (field) {
      if (field.name && !field.disabled && field.type !== "checkbox" && field.value === "") {
        field.disabled = true;
        emptied.push(field);
      }
    });
    setTimeout(function () { emptied.forEach(function (field) { field.disabled = false; }); }, 0);
  });

  // Ages: <time datetime="..." data-relative>3 May 2025, 14:15</time> reads
  // "3 minutes ago" here, not on the server, so cached HTML never goes stale.
  // The absolute text stays for people without JavaScript, for the title, and
  // for anything older or further off than a month.
  var relative = window.Intl && Intl.RelativeTimeFormat
    ? new Intl.RelativeTimeFormat(LANGUAGE, { numeric: "auto" }) : null;
  var MINUTE = 60, HOUR = 3600, DAY = 86400;

  function startOfDay(date) {
    return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
  }

  function describe(then, now) {
    var seconds = (then.getTime() - now.getTime()) / 1000;
    var size = Math.abs(seconds), sign = seconds < 0 ? -1 : 1;
    if (size < 45) return seconds < 0 ? gettext("just now") : relative.format(0, "second");
    if (size < HOUR) return relative.format(sign * Math.max(1, Math.floor(size / MINUTE)), "minute");
    if (size < DAY) return relative.format(sign * Math.floor(size / HOUR), "hour");
    // Calendar days, so "yesterday" means yesterday (DST days are 23 or 25 hours).
    var days = Math.round((startOfDay(then) - startOfDay(now)) / (DAY * 1000));
    if (Math.abs(days) <= 30) return relative.format(days, "day");
    return null;
  }

  function showAges(root) {
    if (!relative || !root.querySelectorAll) return;
    var now = new Date();
    var times = Array.prototype.slice.call(root.querySelectorAll("time[data-relative]"));
    if (root.matches && root.matches("time[data-relative]")) times.push(root);
    times.forEach(function (time) {
      if (!time.hasAttribute("data-absolute")) time.setAttribute("data-absolute", time.textContent);
      var absolute = time.getAttribute("data-absolute");
      if (!time.title) time.title = absolute;
      // Django writes microseconds; not every browser parses more than milliseconds.
      var then = new Date(time.getAttribute("datetime").replace(/(\.\d{3})\d+/, "$1"));
      var text = isNaN(then.getTime()) ? null : describe(then, now);
      time.textContent = text || absolute;
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { showAges(document); });
  } else {
    showAges(document);
  }
  document.addEventListener("htmx:load", function (event) { showAges(event.target); });
  setInterval(function () { showAges(document); }, 30000);
})();
