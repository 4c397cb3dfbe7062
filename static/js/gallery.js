// The gallery: hovering or focusing a card plays its clip, muted; the live
// refresh rests while the tab is hidden. Everything hangs off classes and
// data-* attributes (the Content-Security-Policy forbids inline handlers).
(function () {
  "use strict";
  var gettext = window.gettext; // Django's JavaScript catalogue (base.html)

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

  // Stacks: the gallery shows one card per video, its newest version. A card
  // that arrives (a new version on top, a page further down) replaces any
  // card of the same lineage already on screen that the refresh did not
  // report (one far from the viewport).
  function oneCardPerStack(root) {
    if (!root.querySelectorAll) return;
    var cards = root.matches && root.matches("article.gcard") ? [root] : root.querySelectorAll("article.gcard");
    Array.prototype.forEach.call(cards, function (card) {
      var lineage = card.getAttribute("data-lineage");
      if (!lineage || !card.closest("#gallery-grid")) return;
      document.querySelectorAll('#gallery-grid article.gcard[data-lineage="' + lineage + '"]').forEach(function (other) {
        if (other !== card) other.remove();
      });
    });
  }
  document.addEventListener("htmx:load", function (event) {
    oneCardPerStack(event.target);
  });

  // Compare: "Compare two…" shows a checkbox on every card; with two picked,
  // the Compare link opens them side by side. The picks are codes kept here,
  // so they survive cards being swapped by the live refresh or new filters.
  var comparing = false;
  var picks = [];

  function say(text) {
    document.dispatchEvent(new CustomEvent("studio:announce", { detail: text }));
  }

  function drawPicks() {
    var results = document.getElementById("gallery-results");
    if (!results) return;
    results.classList.toggle("is-comparing", comparing);
    var toggle = results.querySelector("[data-compare-toggle]");
    var note = results.querySelector("[data-compare-note]");
    var go = results.querySelector("[data-compare-go]");
    var bar = results.querySelector("[data-compare-bar]");
    if (toggle) {
      toggle.setAttribute("aria-pressed", String(comparing));
      toggle.textContent = comparing ? gettext("Cancel") : gettext("Compare two…");
    }
    results.querySelectorAll("input[data-compare-pick]").forEach(function (box) {
      var picked = picks.indexOf(box.value) !== -1;
      box.checked = picked;
      box.disabled = !picked && picks.length >= 2;
      box.closest("article.gcard").classList.toggle("is-picked", picked);
    });
    if (note) {
      note.hidden = !comparing;
      note.textContent = picks.length === 0 ? gettext("Pick two videos") : picks.length === 1 ? gettext("Pick one more") : gettext("Two picked");
    }
    if (go && bar) {
      go.hidden = !comparing || picks.length !== 2;
      if (picks.length === 2) go.href = bar.getAttribute("data-compare-url") + "?a=" + picks[0] + "&b=" + picks[1];
    }
  }

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest && event.target.closest("[data-compare-toggle]");
    if (toggle) {
      comparing = !comparing;
      if (!comparing) picks = [];
      drawPicks();
      say(comparing ? gettext("Compare: pick two videos") : gettext("Compare cancelled"));
      return;
    }
    // While comparing, a click on a card's picture picks it instead of opening it.
    var media = comparing && event.target.closest && event.target.closest("#gallery-grid .gcard-media");
    if (media) {
      var box = media.closest("article.gcard").querySelector("input[data-compare-pick]");
      if (box && !box.disabled) {
        event.preventDefault();
        box.checked = !box.checked;
        box.dispatchEvent(new Event("change", { bubbles: true }));
      }
    }
  });
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[data-compare-pick]")) return;
    picks = picks.filter(function (code) { return code !== box.value; });
    if (box.checked) picks.push(box.value);
    drawPicks();
    say(picks.length === 2 ? gettext("Two videos picked: Compare is ready") : picks.length === 1 ? gettext("One video picked, pick one more") : gettext("No video picked"));
  });
  document.addEventListener("htmx:afterSettle", function () {
    // A picked card that left the gallery (deleted, filtered out) is no longer picked.
    picks = picks.filter(function (code) { return document.getElementById("card-" + code); });
    drawPicks();
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
