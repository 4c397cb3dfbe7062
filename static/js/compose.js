// The composer's small behaviours. Everything else is htmx attributes.
(function () {
  "use strict";

  // Ctrl/Cmd + Enter sends the prompt from anywhere in the composer.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
    var form = event.target.closest && event.target.closest("#composer");
    if (!form) return;
    var button = form.querySelector(".generate-button");
    if (button && !button.disabled) {
      event.preventDefault();
      form.requestSubmit(button);
    }
  });

  // A card that becomes ready swaps in a <video>; a video a person is
  // watching is never replaced, because finished cards stop polling.
  // (studio.js announces a card's change of status, here and in the gallery.)
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (target && target.classList && target.classList.contains("gcard")) {
      var video = target.querySelector("video");
      if (video && !video.paused) event.detail.shouldSwap = false;
    }
  });

  function reducedMotion() {
    return window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  }

  document.addEventListener("htmx:load", function (event) {
    var elt = event.target;
    if (!(elt.matches && elt.matches("form#composer"))) return;
    // After Generate: the new card comes into view (its progress is where the person looks);
    // a form sent back with errors puts the focus on the first field to fix.
    var invalid = elt.querySelector(".field-error input, .field-error textarea, .field-error select");
    if (invalid) {
      invalid.focus();
      return;
    }
    var sent = elt.querySelector(".notice-sent");
    if (sent) {
      var card = document.getElementById(sent.getAttribute("data-card")) || document.querySelector("#recent .gcard");
      if (card) card.scrollIntoView({ block: "center", behavior: reducedMotion() ? "auto" : "smooth" });
    }
  });
})();
