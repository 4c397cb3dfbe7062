// The gallery: hovering or focusing a card plays its clip, muted; the live
// refresh rests while the tab is hidden. Everything hangs off classes and
// data-* attributes (the Content-Security-Policy forbids inline handlers).
(function () {
  "use strict";

  function clipOf(media) {
    return media && media.querySelector("video.gcard-video");
  }

  function start(media) {
    var video = clipOf(media);
    if (!video) return;
    if (!video.dataset.ready) {
      video.dataset.ready = "1";
      // Show the clip over the poster only once frames arrive, so a slow
      // start never flashes an empty box.
      video.addEventListener("playing", function () {
        video.closest(".gcard-media").classList.add("is-playing");
      });
    }
    video.muted = true;
    video.preload = "auto";
    var playing = video.play();
    if (playing && playing.catch) playing.catch(function () {});
  }

  function stop(media) {
    var video = clipOf(media);
    if (!video) return;
    media.classList.remove("is-playing");
    video.pause();
  }

  function mediaFrom(event) {
    return event.target.closest ? event.target.closest(".gcard-media") : null;
  }

  document.addEventListener("mouseover", function (event) {
    var media = mediaFrom(event);
    if (media && !media.contains(event.relatedTarget)) start(media);
  });
  document.addEventListener("mouseout", function (event) {
    var media = mediaFrom(event);
    if (media && !media.contains(event.relatedTarget)) stop(media);
  });
  document.addEventListener("focusin", function (event) {
    var media = mediaFrom(event);
    if (media) start(media);
  });
  document.addEventListener("focusout", function (event) {
    var media = mediaFrom(event);
    if (media) stop(media);
  });

  // Nobody is looking at a hidden tab: skip the refresh until it is shown,
  // then ask at once.
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (document.hidden && event.detail.elt.id === "gallery-live") event.preventDefault();
  });
  document.addEventListener("visibilitychange", function () {
    var live = document.getElementById("gallery-live");
    if (!document.hidden && live && window.htmx) window.htmx.trigger(live, "wake");
  });
})();
