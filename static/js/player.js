// The video page's player: a small script over <video> (no framework).
//
// Markup: templates/videos/detail_player.html. Contract other scripts rely on
// (also in the notes, player-contract.md):
// - [data-player] holds [data-player-stage] (the <video id="player"> and the
//   <svg data-player-overlay viewBox="0 0 1 1">, kept exactly over the shown frame)
//   and the control bar.
// - Comment markers come from any element outside the player carrying
//   data-comment-at (seconds), data-comment-end (optional, a range),
//   data-comment-code and data-comment-label (optional); rescanned on
//   htmx:afterSettle and on the document event "studio:comments-changed".
//   Elements inside [hidden] or with data-comment-resolved="true" are left out.
// - Clicking a marker seeks there, pauses and dispatches "studio:comment-open"
//   {code} on document (cancelable: without preventDefault the player scrolls
//   the comment into view itself).
// - Events on document: "studio:player-ready" {video, fps}, "studio:player-time"
//   {time} (timeupdate and seeked), "studio:player-range" {in, out} | null.
// - window.StudioPlayer = {video, fps, seek, pause, play, frameStep, getRange};
//   window.StudioPlayerLib = {timecode, clock, isTyping, frameOf}.
// Also: the "Comment at 0:04" toggle of a comment form takes the player's position,
// and [data-seek] buttons (a comment's timecode) play from their moment.
(function () {
  "use strict";
  // Words from Django's JavaScript catalogue (base.html loads it before this script).
  var gettext = window.gettext, interpolate = window.interpolate;
  function say(text, values) { return interpolate(text, values, true); }

  var SPEEDS = [0.25, 0.5, 0.75, 1, 1.25, 1.5, 2];
  var SHUTTLE = [1, 2, 4];
  var HELD = 0.01; // a hundredth of a frame: currentTime read back after a seek may be a hair early

  // --- Pure helpers, shared with other pages (the compare page) ------------------------

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  // The frame shown at a time: frames start at k / fps.
  function frameOf(seconds, fps) {
    return Math.max(0, Math.floor((seconds || 0) * fps + HELD));
  }

  // mm:ss:ff, frames counted at the file's rate (non-drop-frame for 23.976 and 29.97).
  function timecode(seconds, fps) {
    fps = fps > 0 ? fps : 24;
    var perSecond = Math.round(fps);
    var frame = frameOf(seconds, fps);
    var whole = Math.floor(frame / perSecond);
    return pad(Math.floor(whole / 60)) + ":" + pad(whole % 60) + ":" + pad(frame % perSecond);
  }

  function clock(seconds) {
    var whole = Math.floor(seconds || 0);
    var secs = whole % 60;
    return Math.floor(whole / 60) + ":" + (secs < 10 ? "0" : "") + secs;
  }

  var NOT_TYPING = ["checkbox", "radio", "range", "button", "submit", "reset", "color", "file", "image"];

  // Is the person typing into a field? Then no key is a shortcut.
  function isTyping(event) {
    var target = event && event.target;
    if (!target || target.nodeType !== 1) return false;
    if (target.isContentEditable) return true;
    var tag = target.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    if (tag === "INPUT") return NOT_TYPING.indexOf((target.type || "text").toLowerCase()) === -1;
    return false;
  }

  function emit(name, detail, cancelable) {
    return document.dispatchEvent(new CustomEvent(name, { detail: detail, cancelable: !!cancelable }));
  }

  function announce(text) {
    emit("studio:announce", text);
  }

  function rateLabel(rate) {
    return (Math.round(rate * 100) / 100).toString() + "×";
  }

  window.StudioPlayerLib = { timecode: timecode, clock: clock, isTyping: isTyping, frameOf: frameOf };

  // --- One player ------------------------------------------------------------------------

  function Player(root) {
    var video = root.querySelector("video");
    var stage = root.querySelector("[data-player-stage]");
    var overlay = root.querySelector("[data-player-overlay]");
    var bar = root.querySelector("[data-player-bar]");
    var scrub = root.querySelector("[data-player-scrub]");
    var progress = root.querySelector("[data-player-progress]");
    var buffered = root.querySelector("[data-player-buffered]");
    var head = root.querySelector("[data-player-head]");
    var hover = root.querySelector("[data-player-hover]");
    var rangeBar = root.querySelector("[data-player-range]");
    var lane = root.querySelector("[data-player-markers]");
    var nowLabel = root.querySelector("[data-player-now]");
    var totalLabel = root.querySelector("[data-player-total]");
    var playButton = root.querySelector("[data-player-play]");
    var speedButton = root.querySelector("[data-player-speed]");
    var speedMenu = root.querySelector("[data-player-speed-menu]");
    var muteButton = root.querySelector("[data-player-mute]");
    var volume = root.querySelector("[data-player-volume]");
    var loopButton = root.querySelector("[data-player-loop]");
    var clearButton = root.querySelector("[data-player-clear]");
    var rangeLabel = root.querySelector("[data-player-range-label]");
    var fullButton = root.querySelector("[data-player-fullscreen]");
    var help = root.querySelector("[data-player-help]");
    var hud = root.querySelector("[data-player-hud]");
    var problem = root.querySelector("[data-player-error]");

    var fps = parseFloat(root.getAttribute("data-fps"));
    if (!(fps > 0 && fps < 1000)) fps = 24;
    var shape = {
      width: parseInt(root.getAttribute("data-width"), 10) || 0,
      height: parseInt(root.getAttribute("data-height"), 10) || 0,
    };
    var marks = { in: null, out: null };
    var looping = false;
    var menuRate = 1; // the speed chosen in the menu; J/K/L come back to it
    var shuttle = 0; // 0 stopped, +n forward at SHUTTLE[n-1], -n backward
    var reversing = false;
    var reverseClock = 0;
    var scrubbing = null;
    var markers = [];
    var hudTimer = 0;
    var ticking = false;
    var shown = { now: "", total: "", value: "" };
    var helpReturn = null;
    var kHeld = false;
    var ready = false;

    // Progressive enhancement: without this script the browser's own controls stay.
    video.controls = false;
    video.removeAttribute("controls");
    bar.hidden = false;
    root.classList.add("is-enhanced", "is-paused", "is-fresh");

    function duration() {
      var d = video.duration;
      if (isFinite(d) && d > 0) return d;
      return parseFloat(root.getAttribute("data-duration")) || 0;
    }

    function lastFrameTime() {
      var d = duration();
      return d ? Math.max(0, (Math.ceil(d * fps - HELD) - 1) / fps) : 0;
    }

    function clamp(t) {
      return Math.min(Math.max(0, t || 0), duration() || 0);
    }

    function pct(t) {
      var d = duration();
      return d ? Math.min(100, Math.max(0, (t / d) * 100)) : 0;
    }

    // --- Shape: the stage keeps the file's aspect ratio; the overlay covers the frame --

    function applyShape() {
      var w = video.videoWidth || shape.width;
      var h = video.videoHeight || shape.height;
      if (!w || !h) return;
      stage.style.aspectRatio = w + " / " + h;
      root.classList.toggle("is-portrait", h > w);
      root.classList.toggle("is-square", h === w);
      placeOverlay();
    }

    function placeOverlay() {
      var w = video.videoWidth || shape.width;
      var h = video.videoHeight || shape.height;
      var sw = stage.clientWidth;
      var sh = stage.clientHeight;
      if (!overlay || !sw || !sh) return;
      var fw = sw;
      var fh = sh;
      if (w && h) {
        var scale = Math.min(sw / w, sh / h);
        fw = w * scale;
        fh = h * scale;
      }
      overlay.style.left = (sw - fw) / 2 + "px";
      overlay.style.top = (sh - fh) / 2 + "px";
      overlay.style.width = fw + "px";
      overlay.style.height = fh + "px";
    }

    // --- Read-outs -----------------------------------------------------------------------

    function render() {
      var t = video.currentTime;
      var d = duration();
      var now = timecode(t, fps);
      var total = timecode(d, fps);
      if (now !== shown.now) nowLabel.textContent = shown.now = now;
      if (total !== shown.total) {
        totalLabel.textContent = shown.total = total;
        scrub.setAttribute("aria-valuemax", d.toFixed(2));
      }
      var value = now + " of " + total;
      if (value !== shown.value) {
        shown.value = value;
        scrub.setAttribute("aria-valuenow", t.toFixed(2));
        scrub.setAttribute("aria-valuetext", value);
      }
      var at = pct(t);
      progress.style.transform = "scaleX(" + at / 100 + ")";
      head.style.left = at + "%";
      markers.forEach(function (marker) {
        var near = marker.end !== null ? t >= marker.at && t <= marker.end : Math.abs(t - marker.at) < 0.25;
        marker.button.classList.toggle("is-current", near);
      });
    }

    function renderBuffered() {
      var d = duration();
      var ranges = video.buffered;
      var end = 0;
      for (var i = 0; i < ranges.length; i++) {
        if (ranges.start(i) <= video.currentTime + 0.5) end = Math.max(end, ranges.end(i));
      }
      buffered.style.transform = "scaleX(" + (d ? Math.min(1, end / d) : 0) + ")";
    }

    function renderState() {
      var playing = !video.paused || reversing;
      root.classList.toggle("is-playing", playing);
      root.classList.toggle("is-paused", !playing);
      playButton.setAttribute("aria-label", playing ? gettext("Pause") : gettext("Play"));
      playButton.title = playing ? gettext("Pause (Space or K)") : gettext("Play (Space or K)");
    }

    function renderRate() {
      var rate = reversing ? -SHUTTLE[-shuttle - 1] : video.playbackRate;
      speedButton.textContent = rateLabel(Math.abs(rate));
      speedButton.setAttribute("aria-label", say(gettext("Speed %(rate)s"), { rate: rateLabel(rate) }));
      speedButton.classList.toggle("is-changed", rate !== 1);
      speedMenu.querySelectorAll("[data-rate]").forEach(function (item) {
        item.setAttribute("aria-checked", parseFloat(item.getAttribute("data-rate")) === menuRate ? "true" : "false");
      });
    }

    function renderVolume() {
      var silent = video.muted || video.volume === 0;
      root.classList.toggle("is-muted", silent);
      muteButton.setAttribute("aria-label", silent ? gettext("Unmute") : gettext("Mute"));
      muteButton.title = silent ? gettext("Unmute (M)") : gettext("Mute (M)");
      volume.value = video.muted ? 0 : video.volume;
      volume.setAttribute("aria-valuetext", Math.round((video.muted ? 0 : video.volume) * 100) + "%");
    }

    function renderMarks() {
      var has = marks.in !== null || marks.out !== null;
      rangeBar.hidden = !has;
      clearButton.hidden = !has;
      if (has) {
        var from = marks.in !== null ? marks.in : 0;
        var to = marks.out !== null ? marks.out : duration();
        rangeBar.style.left = pct(from) + "%";
        rangeBar.style.width = Math.max(0, pct(to) - pct(from)) + "%";
        rangeBar.classList.toggle("is-open-start", marks.in === null);
        rangeBar.classList.toggle("is-open-end", marks.out === null);
        var text =
          marks.in !== null && marks.out !== null
            ? timecode(marks.in, fps) + " – " + timecode(marks.out, fps)
            : marks.in !== null
              ? say(gettext("In %(time)s"), { time: timecode(marks.in, fps) })
              : say(gettext("Out %(time)s"), { time: timecode(marks.out, fps) });
        rangeLabel.textContent = text;
      }
      loopButton.setAttribute("aria-pressed", looping ? "true" : "false");
      loopButton.setAttribute("aria-label", getRange() ? gettext("Loop the marked range") : gettext("Loop"));
      video.loop = looping && !getRange();
    }

    function showHud(text) {
      hud.textContent = text;
      hud.classList.add("is-shown");
      clearTimeout(hudTimer);
      hudTimer = setTimeout(function () {
        hud.classList.remove("is-shown");
      }, 900);
    }

    // While playing, the read-out follows each frame (timeupdate comes 4 times a second)
    // and a marked range loops on time, not a quarter second late.
    function startTicking() {
      if (ticking) return;
      ticking = true;
      requestAnimationFrame(function again() {
        if (video.paused || video.ended) {
          ticking = false;
          render();
          return;
        }
        var range = getRange();
        if (looping && range && video.currentTime >= range.out - HELD / fps) video.currentTime = range.in;
        render();
        requestAnimationFrame(again);
      });
    }

    // --- Transport -------------------------------------------------------------------------

    function play() {
      stopReverse();
      var range = getRange();
      if (looping && range && (video.currentTime < range.in || video.currentTime >= range.out - HELD / fps)) {
        video.currentTime = range.in;
      } else if (video.ended || video.currentTime >= duration() - HELD / fps) {
        video.currentTime = looping && range ? range.in : 0;
      }
      var started = video.play();
      if (started && started.catch) started.catch(function () {});
    }

    function pause() {
      stopReverse();
      shuttle = 0;
      video.pause();
      video.playbackRate = menuRate;
      renderState();
      renderRate();
    }

    function toggle() {
      if (video.paused && !reversing) {
        shuttle = 0;
        video.playbackRate = menuRate;
        play();
      } else {
        pause();
      }
    }

    function seek(t) {
      stopReverse();
      if (shuttle < 0) shuttle = 0;
      video.currentTime = clamp(t);
      render();
    }

    function frameStep(n) {
      if (!video.paused || reversing) pause();
      var target = (frameOf(video.currentTime, fps) + (n || 0)) / fps;
      target = Math.min(Math.max(0, target), lastFrameTime());
      video.currentTime = target;
      render();
      return target;
    }

    function setRate(rate, quiet) {
      menuRate = rate;
      if (shuttle > 0) shuttle = 1;
      if (!reversing) video.playbackRate = rate;
      renderRate();
      if (!quiet) {
        showHud(rateLabel(rate));
        announce(say(gettext("Speed %(rate)s"), { rate: rateLabel(rate) }));
      }
    }

    function nudgeRate(direction) {
      var index = SPEEDS.indexOf(menuRate);
      if (index === -1) index = SPEEDS.indexOf(1);
      index = Math.min(SPEEDS.length - 1, Math.max(0, index + direction));
      setRate(SPEEDS[index]);
    }

    // L: play forward; again: 2×, 4×. J: the same backwards (Chromium cannot play
    // backwards, so it steps: each seek starts when the last one has shown its frame,
    // by as much time as has passed, so it keeps pace on any machine).
    function forward() {
      if (shuttle > 0 && !video.paused) {
        shuttle = Math.min(SHUTTLE.length, shuttle + 1);
      } else {
        stopReverse();
        shuttle = 1;
      }
      var rate = shuttle === 1 ? menuRate : SHUTTLE[shuttle - 1];
      video.playbackRate = rate;
      if (video.paused) play();
      renderRate();
      showHud("▶ " + rateLabel(rate));
    }

    function backward() {
      if (shuttle < 0 && reversing) {
        shuttle = Math.max(-SHUTTLE.length, shuttle - 1);
      } else {
        video.pause();
        shuttle = -1;
        reversing = true;
        reverseClock = performance.now();
        stepBack();
      }
      renderState();
      renderRate();
      showHud("◀ " + rateLabel(SHUTTLE[-shuttle - 1]));
    }

    function stepBack() {
      if (!reversing) return;
      var now = performance.now();
      var elapsed = (now - reverseClock) / 1000;
      reverseClock = now;
      var by = Math.max(elapsed * SHUTTLE[-shuttle - 1], 1 / fps);
      var range = getRange();
      var floor = looping && range ? range.in : 0;
      var target = video.currentTime - by;
      if (target <= floor + HELD / fps) {
        if (looping) {
          target = range ? range.out - 1 / fps : lastFrameTime();
        } else {
          video.currentTime = 0;
          stopReverse();
          shuttle = 0;
          renderState();
          renderRate();
          return;
        }
      }
      video.currentTime = target;
    }

    function stopReverse() {
      if (!reversing) return;
      reversing = false;
      renderState();
    }

    function setMark(which) {
      var t = frameOf(video.currentTime, fps) / fps;
      marks[which] = t;
      if (marks.in !== null && marks.out !== null && marks.out <= marks.in) {
        if (which === "in") marks.out = null;
        else marks.in = null;
      }
      if (getRange()) looping = true;
      renderMarks();
      var label = say(which === "in" ? gettext("In %(time)s") : gettext("Out %(time)s"), { time: timecode(t, fps) });
      showHud(label);
      announce(say(which === "in" ? gettext("Mark in %(time)s") : gettext("Mark out %(time)s"), { time: timecode(t, fps) }));
      emit("studio:player-range", getRange());
    }

    function clearMarks() {
      if (marks.in === null && marks.out === null) return;
      var hadRange = !!getRange();
      marks.in = marks.out = null;
      if (hadRange) looping = false;
      renderMarks();
      showHud(gettext("Marks cleared"));
      announce(gettext("Marks cleared"));
      emit("studio:player-range", null);
    }

    function getRange() {
      if (marks.in === null || marks.out === null || marks.out <= marks.in) return null;
      return { in: marks.in, out: marks.out };
    }

    function toggleLoop() {
      looping = !looping;
      renderMarks();
      showHud(looping ? (getRange() ? gettext("Loop the range") : gettext("Loop")) : gettext("Loop off"));
    }

    function toggleMute() {
      if (video.muted || video.volume === 0) {
        video.muted = false;
        if (video.volume === 0) video.volume = 1;
      } else {
        video.muted = true;
      }
    }

    function fullscreenElement() {
      return document.fullscreenElement || document.webkitFullscreenElement || null;
    }

    function toggleFullscreen() {
      if (fullscreenElement()) {
        (document.exitFullscreen || document.webkitExitFullscreen).call(document);
        return;
      }
      var enter = root.requestFullscreen || root.webkitRequestFullscreen;
      if (enter) {
        var asked = enter.call(root);
        if (asked && asked.catch) asked.catch(function () {});
      } else if (video.webkitEnterFullscreen) {
        video.webkitEnterFullscreen(); // iPhone: only the video itself goes full screen
      }
    }

    function openHelp() {
      if (!help || help.open) return;
      helpReturn = document.activeElement;
      help.showModal();
    }

    function closeHelp() {
      if (help && help.open) help.close();
    }

    // --- Comment markers -----------------------------------------------------------------

    function scanMarkers() {
      var seen = {};
      var found = [];
      document.querySelectorAll("[data-comment-at]").forEach(function (el) {
        if (el.closest("[data-player]") || el.closest("[hidden]")) return;
        if (el.getAttribute("data-comment-resolved") === "true") return;
        var at = parseFloat(el.getAttribute("data-comment-at"));
        if (!isFinite(at) || at < 0) return;
        var end = parseFloat(el.getAttribute("data-comment-end"));
        if (!isFinite(end) || end <= at) end = null;
        var code = el.getAttribute("data-comment-code") || "";
        var key = code || at + "/" + end;
        if (seen[key]) return;
        seen[key] = true;
        found.push({ at: at, end: end, code: code, label: el.getAttribute("data-comment-label") || "" });
      });
      found.sort(function (a, b) {
        return a.at - b.at;
      });
      lane.textContent = "";
      markers = found.map(function (marker) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "player-marker" + (marker.end !== null ? " is-range" : "");
        var when = timecode(marker.at, fps) + (marker.end !== null ? " to " + timecode(marker.end, fps) : "");
        var name = marker.label
          ? say(gettext("Comment at %(time)s: %(label)s"), { time: when, label: marker.label })
          : say(gettext("Comment at %(time)s"), { time: when });
        button.setAttribute("aria-label", name);
        button.title = marker.label ? when + " · " + marker.label : say(gettext("Comment at %(time)s"), { time: when });
        if (marker.code) button.setAttribute("data-marker-code", marker.code);
        button.setAttribute("data-marker-at", String(marker.at));
        marker.button = button;
        lane.appendChild(button);
        return marker;
      });
      placeMarkers();
      render();
    }

    function placeMarkers() {
      markers.forEach(function (marker) {
        marker.button.style.left = pct(marker.at) + "%";
        if (marker.end !== null) marker.button.style.width = Math.max(0, pct(marker.end) - pct(marker.at)) + "%";
      });
    }

    function openMarker(marker) {
      seek(marker.at);
      pause();
      var unhandled = emit("studio:comment-open", { code: marker.code }, true);
      if (unhandled && marker.code) {
        var target = document.getElementById("comment-" + marker.code) ||
          document.querySelector('[data-comment-code="' + marker.code.replace(/"/g, "") + '"]');
        if (target) target.scrollIntoView({ block: "nearest", behavior: "smooth" });
      }
    }

    lane.addEventListener("pointerdown", function (event) {
      event.stopPropagation();
    });
    lane.addEventListener("click", function (event) {
      var button = event.target.closest(".player-marker");
      if (!button) return;
      var marker = markers.filter(function (m) {
        return m.button === button;
      })[0];
      if (marker) openMarker(marker);
    });

    // --- Scrubbing -----------------------------------------------------------------------

    function timeAt(clientX) {
      var box = scrub.getBoundingClientRect();
      var share = box.width ? (clientX - box.left) / box.width : 0;
      return Math.min(1, Math.max(0, share)) * duration();
    }

    scrub.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) return;
      event.preventDefault();
      scrub.focus({ preventScroll: true });
      scrubbing = { resume: (!video.paused && !reversing) || shuttle > 0, id: event.pointerId };
      stopReverse();
      video.pause();
      root.classList.add("is-scrubbing");
      try {
        scrub.setPointerCapture(event.pointerId);
      } catch (error) {
        // a synthetic pointer cannot be captured; the drag still works while over the bar
      }
      video.currentTime = timeAt(event.clientX);
      render();
    });
    scrub.addEventListener("pointermove", function (event) {
      if (scrubbing) {
        video.currentTime = timeAt(event.clientX);
        render();
      }
      if (event.pointerType === "mouse" || scrubbing) {
        var t = timeAt(event.clientX);
        hover.hidden = false;
        hover.textContent = timecode(t, fps);
        hover.style.left = pct(t) + "%";
      }
    });
    function endScrub() {
      if (!scrubbing) return;
      var resume = scrubbing.resume;
      scrubbing = null;
      root.classList.remove("is-scrubbing");
      hover.hidden = true;
      if (resume) {
        shuttle = 0;
        video.playbackRate = menuRate;
        var started = video.play();
        if (started && started.catch) started.catch(function () {});
      }
    }
    scrub.addEventListener("pointerup", endScrub);
    scrub.addEventListener("pointercancel", endScrub);
    scrub.addEventListener("lostpointercapture", endScrub);
    scrub.addEventListener("pointerleave", function () {
      if (!scrubbing) hover.hidden = true;
    });
    scrub.addEventListener("keydown", function (event) {
      if (event.altKey || event.ctrlKey || event.metaKey) return;
      var key = event.key;
      var handled = true;
      if (key === "ArrowRight" || key === "ArrowUp") {
        if (event.shiftKey) seek(video.currentTime + 1);
        else frameStep(1);
      } else if (key === "ArrowLeft" || key === "ArrowDown") {
        if (event.shiftKey) seek(video.currentTime - 1);
        else frameStep(-1);
      } else if (key === "PageUp") seek(video.currentTime + 5);
      else if (key === "PageDown") seek(video.currentTime - 5);
      else if (key === "Home") seek(0);
      else if (key === "End") seek(lastFrameTime());
      else handled = false;
      if (handled) event.preventDefault();
    });

    // --- Stage: tap or click plays and pauses; double click goes full screen ---------------

    var lastPointer = "mouse";
    stage.addEventListener("pointerdown", function (event) {
      lastPointer = event.pointerType || "mouse";
    });
    function drawing() {
      return overlay && overlay.classList.contains("is-drawing");
    }
    stage.addEventListener("click", function () {
      if (!drawing()) toggle();
    });
    stage.addEventListener("dblclick", function () {
      // On a phone two quick taps are two play/pause taps, not a wish for full screen.
      if (!drawing() && lastPointer === "mouse") toggleFullscreen();
    });

    // --- Buttons ---------------------------------------------------------------------------

    playButton.addEventListener("click", toggle);
    root.querySelectorAll("[data-player-step]").forEach(function (button) {
      button.addEventListener("click", function () {
        frameStep(parseInt(button.getAttribute("data-player-step"), 10));
      });
    });
    root.querySelectorAll("[data-player-mark]").forEach(function (button) {
      button.addEventListener("click", function () {
        setMark(button.getAttribute("data-player-mark"));
      });
    });
    clearButton.addEventListener("click", clearMarks);
    loopButton.addEventListener("click", toggleLoop);
    muteButton.addEventListener("click", toggleMute);
    volume.addEventListener("input", function () {
      var level = parseFloat(volume.value);
      video.volume = level;
      video.muted = level === 0;
      try {
        localStorage.setItem("studio.player.volume", String(level));
      } catch (error) {
        // private mode: the level is not remembered
      }
    });
    fullButton.addEventListener("click", toggleFullscreen);
    root.querySelector("[data-player-help-open]").addEventListener("click", openHelp);
    help.querySelector("[data-player-help-close]").addEventListener("click", closeHelp);
    help.addEventListener("click", function (event) {
      // A click on the backdrop lands on the dialog itself, outside its box.
      if (event.target !== help) return;
      var box = help.getBoundingClientRect();
      var inside = event.clientX >= box.left && event.clientX <= box.right && event.clientY >= box.top && event.clientY <= box.bottom;
      if (!inside) closeHelp();
    });
    help.addEventListener("close", function () {
      if (helpReturn && helpReturn.focus && document.contains(helpReturn)) helpReturn.focus();
      helpReturn = null;
    });

    // The speed menu: a menu button with radio items (arrows move, Esc closes).
    function menuItems() {
      return Array.prototype.slice.call(speedMenu.querySelectorAll("[data-rate]"));
    }
    function openMenu() {
      speedMenu.hidden = false;
      speedButton.setAttribute("aria-expanded", "true");
      var items = menuItems();
      var current = items.filter(function (item) {
        return item.getAttribute("aria-checked") === "true";
      })[0];
      (current || items[0]).focus();
    }
    function closeMenu(refocus) {
      if (speedMenu.hidden) return;
      speedMenu.hidden = true;
      speedButton.setAttribute("aria-expanded", "false");
      if (refocus) speedButton.focus();
    }
    speedButton.addEventListener("click", function () {
      if (speedMenu.hidden) openMenu();
      else closeMenu(true);
    });
    speedMenu.addEventListener("click", function (event) {
      var item = event.target.closest("[data-rate]");
      if (!item) return;
      setRate(parseFloat(item.getAttribute("data-rate")));
      closeMenu(true);
    });
    speedMenu.addEventListener("keydown", function (event) {
      var items = menuItems();
      var index = items.indexOf(document.activeElement);
      var key = event.key;
      if (key === "ArrowDown") items[(index + 1) % items.length].focus();
      else if (key === "ArrowUp") items[(index - 1 + items.length) % items.length].focus();
      else if (key === "Home") items[0].focus();
      else if (key === "End") items[items.length - 1].focus();
      else if (key === "Escape") closeMenu(true);
      else if (key === "Tab") {
        closeMenu(false);
        return;
      } else return;
      event.preventDefault();
    });
    document.addEventListener("pointerdown", function (event) {
      if (!speedMenu.hidden && !event.target.closest(".player-menu-wrap")) closeMenu(false);
    });

    // --- Media events ----------------------------------------------------------------------

    video.addEventListener("loadedmetadata", function () {
      applyShape();
      renderMarks();
      placeMarkers();
      render();
      becomeReady();
    });
    video.addEventListener("durationchange", function () {
      placeMarkers();
      renderMarks();
      render();
    });
    video.addEventListener("play", function () {
      root.classList.remove("is-fresh");
      renderState();
      startTicking();
    });
    video.addEventListener("playing", function () {
      root.classList.remove("is-waiting");
    });
    video.addEventListener("waiting", function () {
      root.classList.add("is-waiting");
    });
    video.addEventListener("pause", function () {
      renderState();
      render();
    });
    video.addEventListener("ended", function () {
      var range = getRange();
      if (looping && range) {
        video.currentTime = range.in;
        play();
      } else {
        shuttle = 0;
        video.playbackRate = menuRate;
        renderRate();
        renderState();
      }
    });
    video.addEventListener("timeupdate", function () {
      render();
      emit("studio:player-time", { time: video.currentTime });
    });
    video.addEventListener("seeked", function () {
      root.classList.remove("is-fresh");
      render();
      emit("studio:player-time", { time: video.currentTime });
      // Backwards: the next step once this frame is on screen.
      if (reversing) requestAnimationFrame(stepBack);
    });
    // A file link that stopped working (a presigned link that expired while the page stayed
    // open, a dropped connection) is asked for again once, from where it was.
    var retried = false;
    var resumeAt = null;
    video.addEventListener("error", function () {
      if (!retried && ready && video.getAttribute("src")) {
        retried = true;
        resumeAt = { time: video.currentTime, play: !video.paused };
        video.load();
        return;
      }
      root.classList.add("is-broken");
      if (problem) problem.hidden = false;
    });
    video.addEventListener("loadeddata", function () {
      if (!resumeAt) return;
      var again = resumeAt;
      resumeAt = null;
      video.currentTime = again.time;
      if (again.play) play();
    });
    video.addEventListener("playing", function () {
      retried = false;
      if (problem) problem.hidden = true;
      root.classList.remove("is-broken");
    });
    video.addEventListener("progress", renderBuffered);
    video.addEventListener("ratechange", renderRate);
    video.addEventListener("volumechange", renderVolume);

    document.addEventListener("fullscreenchange", onFullscreen);
    document.addEventListener("webkitfullscreenchange", onFullscreen);
    function onFullscreen() {
      var on = fullscreenElement() === root;
      root.classList.toggle("is-fullscreen", on);
      fullButton.setAttribute("aria-label", on ? gettext("Exit full screen") : gettext("Full screen"));
      placeOverlay();
    }

    if (window.ResizeObserver) new ResizeObserver(placeOverlay).observe(stage);
    else window.addEventListener("resize", placeOverlay);

    try {
      var saved = parseFloat(localStorage.getItem("studio.player.volume"));
      if (saved >= 0 && saved <= 1) {
        video.volume = saved;
        video.muted = saved === 0;
      }
    } catch (error) {
      // no storage: full volume
    }

    function becomeReady() {
      if (ready) return;
      ready = true;
      root.classList.add("is-ready");
      emit("studio:player-ready", { video: video, fps: fps });
    }

    // --- Keyboard --------------------------------------------------------------------------

    // Keys that belong to the control they are pressed on (a button's Space, a slider's arrows).
    function ownsKey(target, key) {
      if (!target || !target.closest) return false;
      if (key === " " || key === "Enter") {
        return !!target.closest("button, a[href], summary, input, select, textarea, [role=button], [role=menuitemradio], [role=checkbox]");
      }
      if (/^Arrow|^Home$|^End$|^Page/.test(key)) {
        return !!target.closest("input, select, textarea, [role=slider], [role=menu], [role=listbox], [role=tablist], [role=radiogroup]");
      }
      return false;
    }

    function onKey(event) {
      if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return false;
      if (isTyping(event)) return false;
      var target = event.target;
      if (target && target.closest && target.closest("dialog") && !target.closest("[data-player-help]")) return false;
      var key = event.key;
      if (help.open) {
        if (key === "?") {
          closeHelp();
          return true;
        }
        return false;
      }
      if (ownsKey(target, key)) return false;
      var letter = key.length === 1 ? key.toLowerCase() : key;
      if (letter === "k" && event.repeat) return true;
      switch (letter) {
        case " ":
          toggle();
          break;
        case "k":
          kHeld = true;
          pause();
          break;
        case "l":
          if (kHeld) frameStep(1);
          else forward();
          break;
        case "j":
          if (kHeld) frameStep(-1);
          else backward();
          break;
        case ",":
          frameStep(-1);
          break;
        case ".":
          frameStep(1);
          break;
        case "ArrowLeft":
          if (event.shiftKey) seek(video.currentTime - 1);
          else frameStep(-1);
          break;
        case "ArrowRight":
          if (event.shiftKey) seek(video.currentTime + 1);
          else frameStep(1);
          break;
        case "Home":
          seek(0);
          break;
        case "End":
          seek(lastFrameTime());
          break;
        case "i":
          setMark("in");
          break;
        case "o":
          setMark("out");
          break;
        case "x":
          clearMarks();
          break;
        case "<":
          nudgeRate(-1);
          break;
        case ">":
          nudgeRate(1);
          break;
        case "m":
          toggleMute();
          break;
        case "f":
          toggleFullscreen();
          break;
        case "?":
          openHelp();
          break;
        default:
          return false;
      }
      return true;
    }

    this.onKey = onKey;
    this.onKeyUp = function (event) {
      if (event.key === "k" || event.key === "K") kHeld = false;
    };
    this.root = root;
    this.api = {
      video: video,
      fps: fps,
      seek: seek,
      pause: pause,
      play: function () {
        shuttle = 0;
        video.playbackRate = menuRate;
        play();
      },
      frameStep: frameStep,
      getRange: getRange,
    };
    this.rescan = scanMarkers;
    this.isPlaying = function () {
      return !video.paused || reversing;
    };

    applyShape();
    renderState();
    renderRate();
    renderVolume();
    renderMarks();
    scanMarkers();
    render();
    if (video.readyState >= 1) {
      setTimeout(becomeReady, 0);
    }
    // The file may have failed before this script ran (it is deferred; the video loads at once).
    if (video.error) {
      root.classList.add("is-broken");
      if (problem) problem.hidden = false;
    }
  }

  // --- The page ------------------------------------------------------------------------

  var active = null;

  function enhance() {
    document.querySelectorAll("[data-player]:not([data-player-on])").forEach(function (root) {
      if (!root.querySelector("video") || !root.querySelector("[data-player-bar]")) return;
      root.setAttribute("data-player-on", "");
      active = new Player(root);
      window.StudioPlayer = active.api;
    });
    if (active && !document.contains(active.root)) {
      active = null;
      window.StudioPlayer = undefined;
    }
  }

  document.addEventListener("keydown", function (event) {
    if (active && active.onKey(event)) event.preventDefault();
  });
  document.addEventListener("keyup", function (event) {
    if (active) active.onKeyUp(event);
  });
  window.addEventListener("blur", function () {
    if (active) active.onKeyUp({ key: "k" });
  });
  document.addEventListener("htmx:afterSettle", function () {
    enhance();
    if (active) active.rescan();
  });
  document.addEventListener("studio:comments-changed", function () {
    if (active) active.rescan();
  });

  // --- The comment form: "Comment at 0:04" takes the player's position -----------------

  function player() {
    return document.getElementById("player");
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
  document.addEventListener(
    "submit",
    function (event) {
      if (event.target.matches("[data-comment-form]")) sync();
    },
    true,
  );
  document.addEventListener("htmx:afterSwap", sync);

  // Writing a comment pinned to a moment pauses the player, so the moment stays put.
  document.addEventListener("focusin", function (event) {
    var form = event.target.closest && event.target.closest("[data-comment-form]");
    if (!form || event.target.tagName !== "TEXTAREA") return;
    var toggle = form.querySelector("[data-at-toggle]");
    var video = player();
    if (!toggle || !toggle.checked || !video) return;
    if (active && active.isPlaying()) active.api.pause();
    else if (!video.paused) video.pause();
  });

  // A comment's timecode plays from its moment.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-seek]");
    var video = player();
    if (!button || !video) return;
    var at = parseFloat(button.getAttribute("data-seek")) || 0;
    if (active) {
      active.api.seek(at);
      active.api.play();
    } else {
      video.currentTime = at;
      var playing = video.play();
      if (playing && playing.catch) playing.catch(function () {});
    }
    var box = video.closest("[data-player]") || video;
    box.scrollIntoView({ block: "nearest", behavior: "smooth" });
  });

  function start() {
    enhance();
    sync();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
