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
})();
