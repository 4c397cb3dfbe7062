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

  // The live refresh sends the version of the finished cards near the
  // viewport (hx-include picks .gcard.is-near), so a teammate's review or
  // comment shows up where the person is looking, and the request stays small
  // however many pages they loaded. A card scrolled into view is checked on
  // the next refresh. Cards swapped in by htmx are new elements: watch them too.
  var near = window.IntersectionObserver
    ? new IntersectionObserver(
        function (entries) {
          entries.forEach(function (entry) {
            entry.target.classList.toggle("is-near", entry.isIntersecting);
          });
        },
        { rootMargin: "25% 0px" }
      )
    : null;

  function watchCards(root) {
    if (!near || !root.querySelectorAll) return;
    if (root.matches && root.matches("article.gcard")) near.observe(root);
    root.querySelectorAll("article.gcard").forEach(function (card) {
      near.observe(card);
    });
  }

  document.addEventListener("htmx:load", function (event) {
    watchCards(event.target);
  });
  // A card replaced or deleted by a swap: let the observer forget it.
  document.addEventListener("htmx:beforeCleanupElement", function (event) {
    if (near && event.target.matches && event.target.matches("article.gcard")) near.unobserve(event.target);
  });
  watchCards(document);

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
