// Drawing on the frame: a reviewer pauses, picks an arrow, a rectangle or a pen
// and a colour, and draws over the video; the shapes travel with the comment as
// vector data in 0-1 coordinates of the frame. A comment's drawing is drawn again
// over the video when the comment is opened, and while the playhead is at it (a
// range: inside it; a moment: about a second around it).
//
// Drawings are data, never markup: every element is made with createElementNS
// from numbers checked here (and by the server, review.clean_drawing), so a
// comment cannot carry HTML or script into the page.
(function () {
  "use strict";
  var ngettext = window.ngettext, interpolate = window.interpolate; // Django's JavaScript catalogue (base.html)

  var SVG = "http://www.w3.org/2000/svg";
  var TYPES = { arrow: 2, rect: 2, pen: 400 };
  var COLOURS = ["pink", "yellow", "cyan"];
  var MAX_SHAPES = 30;
  var POINT_WINDOW = 0.5; // a moment's drawing shows from half a second before to half after

  var tool = null; // "arrow" | "rect" | "pen" while drawing
  var colour = "pink";
  var draft = []; // the shapes of the comment being written
  var stroke = null; // the shape under the pointer
  var pinned = null; // the code of the comment opened, shown until the video plays
  var shownKey = "";

  // --- The player's overlay and video -----------------------------------------

  function studioPlayer() {
    return window.StudioPlayer || null;
  }

  function video() {
    var player = studioPlayer();
    return (player && player.video) || document.getElementById("player");
  }

  // The player draws an <svg data-player-overlay viewBox="0 0 1 1"> over the
  // frame (see the player's contract); a page without it gets one here, laid
  // over the video's picture by CSSOM (no inline style attribute: the CSP).
  function overlay() {
    var svg = document.querySelector("[data-player-overlay]");
    if (svg) return svg;
    var clip = video();
    if (!clip || !clip.parentNode) return null;
    svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 1 1");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("data-player-overlay", "");
    svg.setAttribute("class", "player-overlay annotate-overlay-own");
    clip.parentNode.insertBefore(svg, clip.nextSibling);
    placeOwnOverlay();
    return svg;
  }

  function placeOwnOverlay() {
    var svg = document.querySelector("svg.annotate-overlay-own");
    var clip = video();
    if (!svg || !clip) return;
    var width = clip.clientWidth;
    var height = clip.clientHeight;
    var ratio = clip.videoWidth && clip.videoHeight ? clip.videoWidth / clip.videoHeight : width / height;
    var frameWidth = Math.min(width, height * ratio);
    var frameHeight = frameWidth / ratio;
    svg.style.left = clip.offsetLeft + (width - frameWidth) / 2 + "px";
    svg.style.top = clip.offsetTop + (height - frameHeight) / 2 + "px";
    svg.style.width = frameWidth + "px";
    svg.style.height = frameHeight + "px";
  }

  function layer(name) {
    var svg = overlay();
    if (!svg) return null;
    var group = svg.querySelector("g[data-annotate='" + name + "']");
    if (!group) {
      group = document.createElementNS(SVG, "g");
      group.setAttribute("data-annotate", name);
      group.setAttribute("class", "annotate-layer annotate-" + name);
      svg.appendChild(group);
    }
    return group;
  }

  // --- Shapes: checked data in, SVG elements out ---------------------------------

  function clamp(value) {
    var number = Number(value);
    if (!isFinite(number)) return null;
    return Math.min(1, Math.max(0, number));
  }

  // Only what a drawing may hold survives: known types and colours, [x, y] pairs in 0..1.
  function cleanShapes(shapes) {
    if (!Array.isArray(shapes)) return [];
    var clean = [];
    shapes.slice(0, MAX_SHAPES).forEach(function (shape) {
      if (!shape || !Object.prototype.hasOwnProperty.call(TYPES, shape.type) || !Array.isArray(shape.points)) return;
      var points = [];
      shape.points.slice(0, TYPES[shape.type]).forEach(function (point) {
        if (!Array.isArray(point) || point.length !== 2) return;
        var x = clamp(point[0]);
        var y = clamp(point[1]);
        if (x !== null && y !== null) points.push([x, y]);
      });
      if (points.length < 2) return;
      clean.push({ type: shape.type, colour: COLOURS.indexOf(shape.colour) >= 0 ? shape.colour : COLOURS[0], points: points });
    });
    return clean;
  }

  function element(name, attributes) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attributes).forEach(function (key) {
      node.setAttribute(key, String(attributes[key]));
    });
    return node;
  }

  function round(value) {
    return Math.round(value * 10000) / 10000;
  }

  // The arrow's head is worked out in screen pixels, so it keeps its shape on
  // a frame of any aspect (the overlay stretches 0-1 to the frame).
  function arrowHead(from, to, box) {
    var width = box.width || 1;
    var height = box.height || 1;
    var dx = (to[0] - from[0]) * width;
    var dy = (to[1] - from[1]) * height;
    var length = Math.sqrt(dx * dx + dy * dy) || 1;
    var size = Math.min(18, length * 0.45);
    var angle = Math.atan2(dy, dx);
    var spread = Math.PI / 7;
    function wing(sign) {
      var a = angle + Math.PI + sign * spread;
      return [to[0] + (size * Math.cos(a)) / width, to[1] + (size * Math.sin(a)) / height];
    }
    return [wing(1), to, wing(-1)];
  }

  function drawShape(shape, group, box) {
    var cls = "shape shape-" + shape.colour + " shape-" + shape.type;
    var p = shape.points;
    var node;
    if (shape.type === "rect") {
      node = element("rect", {
        x: round(Math.min(p[0][0], p[1][0])),
        y: round(Math.min(p[0][1], p[1][1])),
        width: round(Math.abs(p[1][0] - p[0][0])),
        height: round(Math.abs(p[1][1] - p[0][1])),
        class: cls,
        "vector-effect": "non-scaling-stroke",
      });
    } else if (shape.type === "arrow") {
      node = element("g", { class: cls, "data-shape": "arrow" });
      node.appendChild(
        element("line", { x1: p[0][0], y1: p[0][1], x2: p[1][0], y2: p[1][1], "vector-effect": "non-scaling-stroke" })
      );
      var head = arrowHead(p[0], p[1], box);
      node.appendChild(
        element("polyline", {
          points: head.map(function (q) { return round(q[0]) + "," + round(q[1]); }).join(" "),
          "vector-effect": "non-scaling-stroke",
        })
      );
    } else {
      node = element("polyline", {
        points: p.map(function (q) { return q[0] + "," + q[1]; }).join(" "),
        class: cls,
        "vector-effect": "non-scaling-stroke",
      });
    }
    if (shape.type !== "arrow") node.setAttribute("data-shape", shape.type);
    group.appendChild(node);
  }

  function paint(group, shapes) {
    if (!group) return;
    while (group.firstChild) group.removeChild(group.firstChild);
    var box = group.ownerSVGElement ? group.ownerSVGElement.getBoundingClientRect() : { width: 1, height: 1 };
    shapes.forEach(function (shape) {
      drawShape(shape, group, box);
    });
  }

  // --- Comments' drawings, over the video -----------------------------------------

  function drawingOf(thread) {
    try {
      return cleanShapes(JSON.parse(thread.getAttribute("data-drawing")));
    } catch (error) {
      return [];
    }
  }

  function threadsDrawnAt(time) {
    var found = [];
    document.querySelectorAll("[data-drawing][data-drawing-at]").forEach(function (thread) {
      var code = thread.getAttribute("data-comment-code");
      var at = parseFloat(thread.getAttribute("data-drawing-at"));
      var endValue = thread.getAttribute("data-drawing-end");
      var end = endValue ? parseFloat(endValue) : null;
      var inside = end !== null ? time >= at - 0.05 && time <= end + 0.05 : Math.abs(time - at) <= POINT_WINDOW;
      if (code === pinned || (time !== null && inside)) found.push(thread);
    });
    return found;
  }

  function showDrawings() {
    var clip = video();
    var time = clip ? clip.currentTime : null;
    var threads = threadsDrawnAt(time);
    var key = threads.map(function (t) { return t.getAttribute("data-comment-code") + ":" + t.getAttribute("data-drawing"); }).join("|");
    var svg = document.querySelector("[data-player-overlay]");
    var size = svg ? Math.round(svg.getBoundingClientRect().width) + "x" + Math.round(svg.getBoundingClientRect().height) : "";
    if (key + size === shownKey) return;
    shownKey = key + size;
    var shapes = [];
    threads.forEach(function (thread) {
      shapes = shapes.concat(drawingOf(thread));
    });
    if (!shapes.length && !svg) return;
    var group = layer("shown");
    paint(group, shapes);
    if (group) group.setAttribute("data-comments", threads.map(function (t) { return t.getAttribute("data-comment-code"); }).join(" "));
  }

  function openComment(code, fromMarker) {
    var thread = document.getElementById("thread-" + code);
    if (!thread) return;
    var resolved = thread.closest("details");
    if (resolved && !resolved.open) resolved.open = true;
    document.querySelectorAll(".thread.is-open").forEach(function (other) {
      other.classList.remove("is-open");
    });
    thread.classList.add("is-open");
    var timecode = thread.querySelector("[data-at]");
    var at = parseFloat(thread.getAttribute("data-comment-at") || (timecode && timecode.getAttribute("data-at")));
    var player = studioPlayer();
    var clip = video();
    if (isFinite(at) && clip) {
      if (player && player.seek) player.seek(at);
      else clip.currentTime = at;
      if (player && player.pause) player.pause();
      else clip.pause();
    }
    pinned = thread.hasAttribute("data-drawing") ? code : null;
    shownKey = "";
    showDrawings();
    if (fromMarker) thread.scrollIntoView({ block: "nearest", behavior: "smooth" });
    else if (clip) clip.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  // A marker on the player's scrubber was clicked: this script shows the comment (and says so).
  document.addEventListener("studio:comment-open", function (event) {
    if (!event.detail || !event.detail.code || !document.getElementById("thread-" + event.detail.code)) return;
    event.preventDefault();
    openComment(String(event.detail.code), true);
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-comment-open]");
    if (!button) return;
    event.preventDefault();
    openComment(button.getAttribute("data-comment-open"), false);
  });

  document.addEventListener("studio:player-time", showDrawings);
  // Media events do not bubble: listen while they go down (capture), for a page without the player's events.
  document.addEventListener("timeupdate", showDrawings, true);
  document.addEventListener("seeked", showDrawings, true);
  document.addEventListener("loadedmetadata", function () {
    placeOwnOverlay();
    shownKey = "";
    showDrawings();
  }, true);
  document.addEventListener("play", function (event) {
    if (event.target === video()) {
      pinned = null;
      stopDrawing();
    }
  }, true);
  document.addEventListener("studio:comments-changed", function () {
    shownKey = "";
    showDrawings();
  });
  window.addEventListener("resize", function () {
    placeOwnOverlay();
    shownKey = "";
    showDrawings();
    paintDraft();
  });

  // --- Drawing a new comment's shapes ---------------------------------------------

  function form() {
    return document.getElementById("comment-form");
  }

  function paintDraft() {
    var shapes = stroke ? draft.concat([stroke]) : draft;
    if (!shapes.length && !document.querySelector("g[data-annotate='draft']")) return;
    paint(layer("draft"), cleanShapes(shapes));
  }

  function saveDraft() {
    var current = form();
    if (!current) return;
    var field = current.querySelector("[name=drawing]");
    if (field) field.value = draft.length ? JSON.stringify(draft) : "";
    var count = current.querySelector("[data-draw-count]");
    if (count) count.textContent = draft.length ? interpolate(ngettext("%(count)s shape", "%(count)s shapes", draft.length), { count: draft.length }, true) : "";
    current.querySelectorAll("[data-draw-undo], [data-draw-clear]").forEach(function (button) {
      button.hidden = !draft.length;
    });
    if (draft.length) {
      var atToggle = current.querySelector("[data-at-toggle]");
      if (atToggle) atToggle.checked = true;
      var clip = video();
      if (clip && !current.dataset.drawnAt) current.dataset.drawnAt = clip.currentTime.toFixed(3);
    } else {
      delete current.dataset.drawnAt;
    }
    paintDraft();
  }

  function startDrawing(name) {
    var svg = overlay();
    if (!svg) return;
    tool = name;
    svg.classList.add("is-drawing");
    var player = studioPlayer();
    var clip = video();
    if (player && player.pause) player.pause();
    else if (clip) clip.pause();
    // The tools sit with the comment form, often below the fold: bring the frame into view.
    var box = svg.getBoundingClientRect();
    if (box.top < 0 || box.bottom > window.innerHeight) svg.scrollIntoView({ block: "nearest" });
    markTools();
  }

  function stopDrawing() {
    tool = null;
    stroke = null;
    var svg = document.querySelector("[data-player-overlay]");
    if (svg) svg.classList.remove("is-drawing");
    markTools();
  }

  function markTools() {
    document.querySelectorAll("[data-draw-tool]").forEach(function (button) {
      button.setAttribute("aria-pressed", button.getAttribute("data-draw-tool") === tool ? "true" : "false");
    });
    document.querySelectorAll("[data-draw-colour]").forEach(function (button) {
      button.setAttribute("aria-pressed", button.getAttribute("data-draw-colour") === colour ? "true" : "false");
    });
  }

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target : null;
    if (!target) return;
    var toolButton = target.closest("[data-draw-tool]");
    if (toolButton) {
      var name = toolButton.getAttribute("data-draw-tool");
      if (tool === name) stopDrawing();
      else startDrawing(name);
      return;
    }
    var colourButton = target.closest("[data-draw-colour]");
    if (colourButton) {
      colour = colourButton.getAttribute("data-draw-colour");
      markTools();
      return;
    }
    if (target.closest("[data-draw-undo]")) {
      draft.pop();
      saveDraft();
      return;
    }
    if (target.closest("[data-draw-clear]")) {
      draft = [];
      saveDraft();
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && tool) {
      event.preventDefault();
      stopDrawing();
    }
  });

  function pointFrom(event, svg) {
    var box = svg.getBoundingClientRect();
    if (!box.width || !box.height) return null;
    return [
      round(Math.min(1, Math.max(0, (event.clientX - box.left) / box.width))),
      round(Math.min(1, Math.max(0, (event.clientY - box.top) / box.height))),
    ];
  }

  document.addEventListener("pointerdown", function (event) {
    var svg = event.target.closest && event.target.closest("svg[data-player-overlay].is-drawing");
    if (!svg || !tool || draft.length >= MAX_SHAPES) return;
    var point = pointFrom(event, svg);
    if (!point) return;
    event.preventDefault();
    if (svg.setPointerCapture) {
      try { svg.setPointerCapture(event.pointerId); } catch (error) { /* a synthetic pointer */ }
    }
    stroke = { type: tool, colour: colour, points: [point, point.slice()] };
    paintDraft();
  });

  document.addEventListener("pointermove", function (event) {
    if (!stroke) return;
    var svg = document.querySelector("svg[data-player-overlay].is-drawing");
    var point = svg && pointFrom(event, svg);
    if (!point) return;
    if (stroke.type === "pen") {
      var last = stroke.points[stroke.points.length - 1];
      var far = Math.abs(point[0] - last[0]) + Math.abs(point[1] - last[1]) > 0.004;
      if (far && stroke.points.length < TYPES.pen) stroke.points.push(point);
    } else {
      stroke.points[1] = point;
    }
    paintDraft();
  });

  function finishStroke() {
    if (!stroke) return;
    var p = stroke.points;
    var first = p[0];
    var last = p[p.length - 1];
    // A click without a drag draws nothing.
    var size = Math.abs(last[0] - first[0]) + Math.abs(last[1] - first[1]);
    if (stroke.type === "pen" && p.length > 2 && p[1][0] === first[0] && p[1][1] === first[1]) p.splice(1, 1);
    if (size > 0.01 || (stroke.type === "pen" && p.length > 3)) draft.push(stroke);
    stroke = null;
    saveDraft();
  }
  document.addEventListener("pointerup", finishStroke);
  document.addEventListener("pointercancel", finishStroke);

  // The new comment's form is swapped for an empty one once it is posted (or
  // comes back with its error and the drawing it sent).
  document.addEventListener("htmx:afterSwap", function (event) {
    var current = form();
    var target = event.detail.target;
    if (!current || !target || target.id !== "comment-form") return;
    var field = current.querySelector("[name=drawing]");
    try {
      draft = field && field.value ? cleanShapes(JSON.parse(field.value)) : [];
    } catch (error) {
      draft = [];
    }
    stopDrawing();
    saveDraft();
  });

  // htmx reads the form after every submit listener: the drawing's own moment goes with it.
  document.addEventListener("htmx:configRequest", function (event) {
    var current = event.detail.elt;
    if (!current.matches || !current.matches("[data-comment-form]") || !draft.length) return;
    event.detail.parameters.drawing = JSON.stringify(draft);
    var rangeToggle = current.querySelector("[data-range-toggle]");
    if (current.dataset.drawnAt && !(rangeToggle && rangeToggle.checked)) {
      event.detail.parameters.at_seconds = current.dataset.drawnAt;
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    markTools();
    showDrawings();
  });
})();
