// Small behaviours shared by every page. No inline handlers: the
// Content-Security-Policy forbids them, so everything hangs off data-* attributes.
(function () {
  "use strict";

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

  // Copy buttons: <button data-copy="#invite-link">Copy</button>.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.value || source.textContent;
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
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

  // Ages: <time datetime="..." data-relative>3 May 2025, 14:15</time> reads
  // "3 minutes ago" here, not on the server, so cached HTML never goes stale.
  // The absolute text stays for people without JavaScript, for the title, and
  // for anything older or further off than a month.
  var relative = window.Intl && Intl.RelativeTimeFormat
    ? new Intl.RelativeTimeFormat("en", { numeric: "auto" }) : null;
  var MINUTE = 60, HOUR = 3600, DAY = 86400;

  function startOfDay(date) {
    return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
  }

  function describe(then, now) {
    var seconds = (then.getTime() - now.getTime()) / 1000;
    var size = Math.abs(seconds), sign = seconds < 0 ? -1 : 1;
    if (size < 45) return seconds < 0 ? "just now" : relative.format(0, "second");
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
