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
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (target && target.classList && target.classList.contains("gcard")) {
      var video = target.querySelector("video");
      if (video && !video.paused) event.detail.shouldSwap = false;
    }
  });
})();
