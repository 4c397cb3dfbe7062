// The video page: the "Comment at 0:04" toggle takes the player's position,
// and clicking a comment's timecode seeks the player there.
(function () {
  "use strict";

  function player() {
    return document.getElementById("player");
  }

  function clock(seconds) {
    var whole = Math.floor(seconds || 0);
    var secs = whole % 60;
    return Math.floor(whole / 60) + ":" + (secs < 10 ? "0" : "") + secs;
  }

  // Keep every "at 0:04" label and hidden at_seconds field in step with the player.
  function sync() {
    var video = player();
    var now = video ? video.currentTime : 0;
    document.querySelectorAll("[data-player-time]").forEach(function (label) {
      label.textContent = clock(now);
    });
    document.querySelectorAll("[data-comment-form]").forEach(function (form) {
      var toggle = form.querySelector("[data-at-toggle]");
      var field = form.querySelector("[name=at_seconds]");
      // Until the person has played or moved the video there is no moment to point at:
      // a comment written before watching is about the whole clip, not about 0:00.
      var watched = video && (now > 0 || video.played.length > 0);
      if (field) field.value = toggle && toggle.checked && watched ? now.toFixed(2) : "";
    });
  }

  // Media events do not bubble, so listen while they go down (capture).
  document.addEventListener("timeupdate", sync, true);
  document.addEventListener("seeked", sync, true);
  document.addEventListener("loadedmetadata", sync, true);
  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-at-toggle]")) sync();
  });
  // Before htmx reads the form, so the value is the position right now.
  document.addEventListener("submit", function (event) {
    if (event.target.matches("[data-comment-form]")) sync();
  }, true);
  document.addEventListener("htmx:afterSwap", sync);
  document.addEventListener("DOMContentLoaded", sync);

  // Writing a comment pinned to a moment pauses the player, so the moment stays put.
  document.addEventListener("focusin", function (event) {
    var form = event.target.closest && event.target.closest("[data-comment-form]");
    if (!form || event.target.tagName !== "TEXTAREA") return;
    var toggle = form.querySelector("[data-at-toggle]");
    var video = player();
    if (toggle && toggle.checked && video && !video.paused) video.pause();
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-seek]");
    var video = player();
    if (!button || !video) return;
    video.currentTime = parseFloat(button.getAttribute("data-seek")) || 0;
    var playing = video.play();
    if (playing && playing.catch) playing.catch(function () {});
    video.scrollIntoView({ block: "nearest", behavior: "smooth" });
  });
})();
