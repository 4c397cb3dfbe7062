// Compare: 2-4 videos playing in sync from one set of controls, side by side
// or one over the other with a wipe.
//
// StudioCompare.createSync(videos, {fps}) is the sync alone, with no markup of
// its own, so any page can drive a few takes with it. One video is the leader
// (the longest: its clock covers every other); while playing, each follower is
// checked on every animation frame: more than a frame off and it is moved
// there (currentTime set, aimed a little ahead by what its last correction
// missed by: a busy machine seeks and restarts slower), less and its
// playbackRate is nudged by up to 10% to close the gap without a jump. A
// follower shorter than the leader rests on its last frame until the clock
// comes back within it; while the leader waits for data, followers wait too. Nothing here is inline: the CSP forbids it, so the
// page's markup is found by data-* attributes and styled through CSSOM.
(function () {
  "use strict";
  var gettext = window.gettext; // Django's JavaScript catalogue (base.html)

  var MAX_NUDGE = 0.1; // the most a follower's rate is bent to catch up
  var MAX_LEAD = 0.1; // the most a correcting seek aims ahead, in seconds (it reads as drift while it seeks)
  var SETTLE_MS = 400; // after a correcting seek, only the rate is bent for this long

  function lengthOf(video) {
    return isFinite(video.duration) && video.duration > 0 ? video.duration : 0;
  }

  function quietly(promise) {
    if (promise && promise.catch) promise.catch(function () {});
    return promise;
  }

  function timecode(seconds, fps) {
    var frames = Math.round(Math.max(0, seconds || 0) * fps);
    var rate = Math.round(fps) || 24;
    var ff = frames % rate;
    var whole = Math.floor(frames / rate);
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return pad(Math.floor(whole / 60)) + ":" + pad(whole % 60) + ":" + pad(ff);
  }

  function createSync(videos, options) {
    videos = Array.prototype.slice.call(videos);
    options = options || {};
    var fps = options.fps || 24;
    var frame = 1 / fps;
    var rate = 1;
    var playing = false;
    var leader = videos[0];
    var tick = 0;
    var heldAt = -1; // the leader's time when play was pressed, until its clock moves
    var listeners = { time: [], state: [] };
    var lead = new Map(); // per follower: how far ahead a correcting seek aims, learnt
    var corrections = new Map(); // per follower: the last correcting seek, {target, at}

    function emit(name) {
      var args = Array.prototype.slice.call(arguments, 1);
      listeners[name].forEach(function (fn) { fn.apply(null, args); });
    }

    function chooseLeader() {
      var longest = videos[0];
      videos.forEach(function (video) {
        if (lengthOf(video) > lengthOf(longest)) longest = video;
      });
      leader = longest;
    }

    function duration() {
      return videos.reduce(function (most, video) { return Math.max(most, lengthOf(video)); }, 0);
    }

    function now() {
      return leader.currentTime;
    }

    function place(video, time) {
      var end = lengthOf(video);
      var target = end ? Math.min(time, end) : time;
      if (Math.abs(video.currentTime - target) < 1e-4) return;
      video.currentTime = target;
      return target;
    }

    // One follower against the leader's clock.
    function follow(video, time) {
      var end = lengthOf(video);
      if (end && time >= end - frame / 2) {
        // Past its end: rest on the last frame until the clock comes back.
        if (!video.paused) video.pause();
        if (Math.abs(video.currentTime - end) > frame) place(video, end);
        return;
      }
      if (!playing) {
        if (!video.paused) video.pause();
        if (Math.abs(video.currentTime - time) > frame / 4) place(video, time);
        return;
      }
      if (video.seeking) return; // a correction is on its way
      if (leader.seeking || leader.readyState < 3 || !leader.played.length || leader.currentTime === heldAt) {
        // The clock itself is waiting (for data, or to start): hold, or a follower runs ahead.
        if (!video.paused) video.pause();
        return;
      }
      heldAt = -1;
      if (video.paused) quietly(video.play());
      var drift = video.currentTime - time;
      var jump = corrections.get(video);
      if (jump && video.currentTime > jump.target + 1e-3) {
        // Moving again after a correction: what is left is what the aim missed by, so
        // the next aim learns from it (a busy machine seeks and restarts slower).
        lead.set(video, Math.max(0, Math.min(MAX_LEAD, (lead.get(video) || 0) - drift)));
        corrections.delete(video);
      }
      var settling = jump && performance.now() - jump.at < SETTLE_MS;
      if (Math.abs(drift) > frame && !settling) {
        video.playbackRate = rate;
        var target = place(video, time + (lead.get(video) || 0) * rate);
        if (target !== undefined) corrections.set(video, { target: target, at: performance.now() });
      } else {
        // Within a frame (or just corrected): bend the rate so the gap closes in about half a second.
        var nudge = Math.max(-MAX_NUDGE, Math.min(MAX_NUDGE, -2 * drift));
        video.playbackRate = rate * (1 + nudge);
      }
    }

    function followAll() {
      var time = now();
      videos.forEach(function (video) {
        if (video !== leader) follow(video, time);
      });
      emit("time", time, duration());
    }

    function loop() {
      tick = 0;
      if (!playing) return;
      followAll();
      tick = window.requestAnimationFrame(loop);
    }

    function play() {
      if (playing) return;
      if (duration() && now() >= duration() - frame / 2) seek(0);
      playing = true;
      // Followers start once the leader's clock moves (an unmuted video can take a while to).
      heldAt = now();
      videos.forEach(function (video) { video.playbackRate = rate; });
      var started = leader.play();
      if (started && started.catch) {
        started.catch(function () {
          // Refused (a browser that wants a gesture first): stay paused, say so.
          playing = false;
          videos.forEach(function (video) { video.pause(); });
          emit("state", false);
        });
      }
      if (!tick) tick = window.requestAnimationFrame(loop);
      emit("state", true);
    }

    function pause() {
      playing = false;
      videos.forEach(function (video) { video.pause(); });
      videos.forEach(function (video) { video.playbackRate = rate; });
      // Paused, every video shows the leader's moment.
      followAll();
      emit("state", false);
    }

    function seek(time) {
      var target = Math.max(0, Math.min(time, duration() || time));
      videos.forEach(function (video) { place(video, target); });
      emit("time", target, duration());
    }

    // Whole frames, landing just inside the frame so that reading the time
    // back gives the same frame again.
    function step(frames) {
      if (playing) pause();
      var index = Math.round(now() * fps) + frames;
      var last = Math.floor((duration() || 0) * fps);
      index = Math.max(0, last ? Math.min(index, last) : index);
      seek(index / fps + 1e-4);
    }

    function setRate(value) {
      rate = value;
      videos.forEach(function (video) { video.playbackRate = rate; });
    }

    function soundFrom(index) {
      videos.forEach(function (video, position) { video.muted = position !== index; });
    }

    videos.forEach(function (video) {
      video.addEventListener("loadedmetadata", function () {
        chooseLeader();
        emit("time", now(), duration());
      });
      video.addEventListener("seeked", function () {
        if (video === leader) emit("time", now(), duration());
      });
      video.addEventListener("timeupdate", function () {
        if (video === leader && !playing) emit("time", now(), duration());
      });
      video.addEventListener("ended", function () {
        if (video === leader && playing) pause();
      });
    });
    chooseLeader();

    return {
      videos: videos,
      get leader() { return leader; },
      get playing() { return playing; },
      get rate() { return rate; },
      fps: fps,
      time: now,
      duration: duration,
      play: play,
      pause: pause,
      toggle: function () { if (playing) pause(); else play(); },
      seek: seek,
      step: step,
      setRate: setRate,
      soundFrom: soundFrom,
      on: function (name, fn) { listeners[name].push(fn); },
      // Says the time again (a page binding its controls after the metadata arrived).
      refresh: function () {
        chooseLeader();
        emit("time", now(), duration());
        emit("state", playing);
      },
    };
  }

  // --- The compare page's markup -------------------------------------------

  function isTyping(event) {
    var target = event.target;
    if (!target || !target.closest) return false;
    return Boolean(target.closest("input, textarea, select, [contenteditable]:not([contenteditable=false])"));
  }

  function aspectOf(pane) {
    var video = pane.querySelector("video");
    if (video && video.videoWidth && video.videoHeight) return video.videoWidth / video.videoHeight;
    return parseFloat(pane.getAttribute("data-aspect")) || 16 / 9;
  }

  function setUp(root) {
    var stage = root.querySelector("[data-compare-stage]");
    var panes = Array.prototype.slice.call(root.querySelectorAll("[data-compare-pane]"));
    var videos = root.querySelectorAll("video[data-compare-video]");
    var controls = root.querySelector("[data-compare-controls]");
    var wipe = root.querySelector("[data-compare-wipe]");
    var wipeLine = root.querySelector("[data-compare-wipe-line]");
    var sync = videos.length ? createSync(videos, { fps: parseFloat(videos[0].getAttribute("data-fps")) || 24 }) : null;
    root.studioCompare = sync;

    // Tracks in proportion to each video's shape, so a portrait beside a
    // landscape clip is as tall as it and both fit the stage.
    function layout() {
      var aspects = panes.map(aspectOf);
      var wide = window.matchMedia("(min-width: 720px)").matches;
      stage.style.gridTemplateColumns = "";
      stage.style.gridTemplateRows = "";
      if (root.getAttribute("data-mode") === "wipe") return;
      // minmax(0, …): a track never grows to a video's own pixel size.
      var track = function (share) { return "minmax(0, " + share.toFixed(3) + "fr)"; };
      if (wide) {
        stage.style.gridTemplateColumns = aspects.map(track).join(" ");
      } else {
        stage.style.gridTemplateRows = aspects.map(function (a) { return track(1 / a); }).join(" ");
      }
    }

    function setWipe(percent) {
      var value = Math.max(0, Math.min(100, percent));
      if (wipe) wipe.value = String(value);
      if (wipeLine) wipeLine.style.left = value + "%";
      panes.slice(1).forEach(function (pane) {
        pane.style.clipPath = root.getAttribute("data-mode") === "wipe" ? "inset(0 0 0 " + value + "%)" : "";
      });
    }

    function setMode(mode) {
      root.setAttribute("data-mode", mode);
      root.querySelectorAll("[data-compare-mode]").forEach(function (button) {
        button.setAttribute("aria-pressed", String(button.getAttribute("data-compare-mode") === mode));
      });
      if (wipe) wipe.hidden = mode !== "wipe";
      if (wipeLine) wipeLine.hidden = mode !== "wipe";
      setWipe(wipe ? parseFloat(wipe.value) : 50);
      layout();
      var url = new URL(window.location.href);
      if (mode === "wipe") url.searchParams.set("mode", "wipe"); else url.searchParams.delete("mode");
      window.history.replaceState(null, "", url.toString());
    }

    root.addEventListener("click", function (event) {
      var button = event.target.closest("[data-compare-mode]");
      if (button) setMode(button.getAttribute("data-compare-mode"));
    });
    if (wipe) wipe.addEventListener("input", function () { setWipe(parseFloat(wipe.value)); });

    // In wipe mode, dragging across the stage moves the wipe.
    var dragging = false;
    function wipeFromPointer(event) {
      var box = stage.getBoundingClientRect();
      setWipe(((event.clientX - box.left) / box.width) * 100);
    }
    stage.addEventListener("pointerdown", function (event) {
      if (root.getAttribute("data-mode") !== "wipe") return;
      dragging = true;
      stage.setPointerCapture(event.pointerId);
      wipeFromPointer(event);
    });
    stage.addEventListener("pointermove", function (event) { if (dragging) wipeFromPointer(event); });
    stage.addEventListener("pointerup", function () { dragging = false; });
    stage.addEventListener("pointercancel", function () { dragging = false; });

    panes.forEach(function (pane) {
      var video = pane.querySelector("video");
      if (video) video.addEventListener("loadedmetadata", layout);
    });
    window.addEventListener("resize", layout);
    setMode(root.getAttribute("data-mode") || "side");

    if (!sync || !controls) return;
    var playButton = controls.querySelector("[data-compare-play]");
    var scrubber = controls.querySelector("[data-compare-scrubber]");
    var clockNow = controls.querySelector("[data-compare-time]");
    var clockEnd = controls.querySelector("[data-compare-duration]");
    var speed = controls.querySelector("[data-compare-speed]");
    var sound = controls.querySelector("[data-compare-sound]");
    var scrubbing = false;

    sync.on("time", function (time, total) {
      if (clockNow) clockNow.textContent = timecode(time, sync.fps);
      if (clockEnd) clockEnd.textContent = timecode(total, sync.fps);
      if (scrubber && total) {
        scrubber.max = total.toFixed(3);
        if (!scrubbing) scrubber.value = time.toFixed(3);
        scrubber.setAttribute("aria-valuetext", timecode(time, sync.fps));
      }
    });
    sync.on("state", function (isPlaying) {
      root.classList.toggle("is-playing", isPlaying);
      if (playButton) {
        playButton.setAttribute("aria-label", isPlaying ? gettext("Pause both") : gettext("Play both"));
        playButton.setAttribute("aria-pressed", String(isPlaying));
      }
    });

    if (playButton) playButton.addEventListener("click", function () { sync.toggle(); });
    controls.querySelectorAll("[data-compare-step]").forEach(function (button) {
      button.addEventListener("click", function () { sync.step(parseInt(button.getAttribute("data-compare-step"), 10)); });
    });
    if (scrubber) {
      scrubber.step = (1 / sync.fps).toFixed(4);
      scrubber.addEventListener("input", function () {
        scrubbing = true;
        sync.seek(parseFloat(scrubber.value));
      });
      scrubber.addEventListener("change", function () {
        scrubbing = false;
        sync.seek(parseFloat(scrubber.value));
      });
    }
    if (speed) {
      speed.addEventListener("change", function () { sync.setRate(parseFloat(speed.value) || 1); });
      sync.setRate(parseFloat(speed.value) || 1);
    }
    if (sound) {
      sound.addEventListener("change", function () { sync.soundFrom(parseInt(sound.value, 10)); });
      sync.soundFrom(parseInt(sound.value, 10));
    }
    sync.refresh();
    // A click on a video plays or pauses both (not in wipe mode: there it moves the wipe).
    videos.forEach(function (video) {
      video.addEventListener("click", function () {
        if (root.getAttribute("data-mode") !== "wipe") sync.toggle();
      });
    });

    document.addEventListener("keydown", function (event) {
      if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || isTyping(event)) return;
      var onButton = event.target.closest && event.target.closest("button, a, summary");
      var key = event.key;
      if ((key === " " && !onButton) || key === "k" || key === "K") {
        sync.toggle();
      } else if (key === ",") {
        sync.step(-1);
      } else if (key === ".") {
        sync.step(1);
      } else if (key === "ArrowLeft" && !onButton) {
        sync.seek(sync.time() - 1);
      } else if (key === "ArrowRight" && !onButton) {
        sync.seek(sync.time() + 1);
      } else {
        return;
      }
      event.preventDefault();
    });
  }

  window.StudioCompare = { createSync: createSync, timecode: timecode };

  function start() {
    document.querySelectorAll("[data-compare]").forEach(setUp);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
