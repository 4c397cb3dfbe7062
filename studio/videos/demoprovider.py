"""A local stand-in for EvoLink's video API, for demo mode and tests.

It speaks the same contract as the real provider (/work/shared/evolink-api.md):

- ``POST /v1/videos/generations`` validates the body exactly as documented and
  answers the task object, or the documented error body
  ``{"error": {"code", "message", "type", "param"}}``.
- ``GET /v1/tasks/{id}`` answers the task object; unknown ids get 404.
- Bearer auth on both: no key or an empty one gets 401. Any other key works,
  except the revoked keys (default ``sk-revoked``: 401 everywhere) and the broke
  keys (default ``sk-broke``: 402 on create), so the studio's error paths can be
  exercised by hand.
- A task goes pending -> processing -> completed over ``generation_seconds``;
  its result is a real MP4 (H.264 720p, 24 fps, AAC tone, the prompt's words
  drawn over a moving gradient) served from ``GET /files/<token>.mp4`` until it
  expires (``result_ttl``, 24 hours by default; 410 after, 404 for unknown).
- Callbacks: when a task finishes, its object is POSTed to ``callback_url``;
  a non-2xx answer is retried 3 times after 1, 2 and 4 s, 10 s timeout each.
  Only https callback URLs on public hosts are accepted, as the contract says,
  unless the server allows insecure callbacks (``--allow-insecure-callbacks``)
  so a local studio can be called back over plain http on loopback.

Fault injection, to rehearse everything that goes wrong:

- ``POST /_demo/faults`` with ``{"fault": "503", "count": 1, "on": "create"}``
  queues a fault for the next ``count`` matching requests (``on`` is
  ``create``, ``query``, ``file`` or ``any``; default ``any``, count 1).
- ``DELETE /_demo/faults`` clears the queue; ``GET /_demo/faults`` lists it.
- A request header ``X-Demo-Fault: <fault>`` applies to that one request.
- ``--fault <fault>`` on the command line applies to every matching request.
- ``GET /_demo/tasks`` lists the tasks created so far (ids and statuses).
- ``POST /_demo/config`` with ``{"generation_seconds": 2}`` changes settings
  (``generation_seconds``, ``result_ttl``, ``big_file_mb``) while running.

A fault is a name with an optional argument after a colon:

==========================  =================================================
``429[:seconds]``           429 rate_limit_error with Retry-After (default 1)
``500``/``502``/``503``     that status with the documented JSON error body;
                            ``503:empty`` answers with no body at all (also
                            ``400``, ``401``, ``402``, ``403``, ``404``, ``413``)
``fail[:code]``             (create) the task is created and ends failed with
                            that error code (default content_policy_violation)
``slow[:seconds]``          handle the request, then wait (default 5 s) before
                            answering: a create still creates its task
``expired``                 (create) the result link is born expired;
                            (file) the file answers 410
``malformed``               handle the request, answer 200 with invalid JSON
``drop``                    read the request, close the connection unanswered
``drop_after_create``       (create) create the task, then drop the connection
``big[:megabytes]``         (file) pad the served MP4 to that size
==========================  =================================================

The server keeps everything in memory (``server.tasks``, in creation order,
and ``server.callback_attempts``) so tests can assert what happened. Use
``start_in_thread()`` in tests; ``python manage.py demoprovider`` runs it.
"""

from __future__ import annotations

import colorsys
import contextlib
import hashlib
import ipaddress
import json
import logging
import math
import os
import re
import secrets
import shutil
import socket
import string
import tempfile
import threading
import time
import urllib.error
import urllib.request
from array import array
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

MODEL = "gemini-omni-flash-text-to-video"
TOKENS_PER_SECOND = 5792
CREDITS_PER_1K_TOKENS = 1.01
MAX_PROMPT_CHARS = 5000
MAX_BODY_BYTES = 1024 * 1024
MAX_CALLBACK_URL_LENGTH = 2048
FPS = 24
SAMPLE_RATE = 48000
REQUEST_KINDS = ("create", "query", "file", "any")
FAULT_NAMES = (
    "400",
    "401",
    "402",
    "403",
    "404",
    "413",
    "429",
    "500",
    "502",
    "503",
    "fail",
    "slow",
    "expired",
    "malformed",
    "drop",
    "drop_after_create",
    "big",
)
# Faults that only make sense for one kind of request; the others apply to all.
FAULT_KINDS = {
    "fail": ("create",),
    "drop_after_create": ("create",),
    "expired": ("create", "file"),
    "big": ("file",),
}
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large_error",
    429: "rate_limit_error",
    500: "internal_error",
    502: "upstream_error",
    503: "service_unavailable",
}
FAILURE_MESSAGES = {
    "content_policy_violation": "The prompt or the generated video was blocked by the content policy.",
    "generation_timeout": "The generation took too long and was stopped.",
}

_DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
_NOTO_CJK = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"
_CJK = re.compile(r"[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff00-\uffef]")


def parse_fault(spec: str) -> tuple[str, str]:
    """'slow:3' -> ('slow', '3'). Raises ValueError for an unknown fault name."""
    name, _, arg = spec.strip().partition(":")
    name = name.strip().lower()
    if name not in FAULT_NAMES:
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULT_NAMES)}")
    return name, arg.strip()


# --- The video ---------------------------------------------------------------------


def prompt_digest(prompt: str) -> bytes:
    return hashlib.sha256(prompt.encode("utf-8")).digest()


def pick_duration(prompt: str, duration: int | str) -> int:
    """`auto` becomes 3..10 seconds, the same for the same prompt."""
    if duration == "auto":
        return 3 + prompt_digest(prompt)[2] % 8
    return int(duration)


def pick_size(prompt: str, aspect_ratio: str) -> tuple[int, int]:
    if aspect_ratio == "auto":
        aspect_ratio = "16:9" if prompt_digest(prompt)[3] % 2 == 0 else "9:16"
    return (720, 1280) if aspect_ratio == "9:16" else (1280, 720)


def _font(size: int, cjk: bool):
    from PIL import ImageFont

    for path in (_NOTO_CJK, _DEJAVU) if cjk else (_DEJAVU, _NOTO_CJK):
        if os.path.exists(path):
            with contextlib.suppress(OSError):
                return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def _wrap(draw, text: str, font, width: int) -> list[str]:
    """Greedy wrap by words, or by characters for text without spaces (Chinese)."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        tokens = re.findall(r"\S+\s*", paragraph) if not _CJK.search(paragraph) else list(paragraph)
        line = ""
        for token in tokens:
            candidate = line + token
            if line and draw.textlength(candidate.rstrip(), font=font) > width:
                lines.append(line.rstrip())
                line = token.lstrip()
            else:
                line = candidate
        lines.append(line.rstrip())
    return lines


def _text_layer(prompt: str, width: int, height: int):
    """The prompt's words on a translucent panel, as small an RGBA image as possible."""
    from PIL import Image, ImageDraw

    cjk = bool(_CJK.search(prompt))
    margin = width // 16
    box_width = width - 2 * margin
    max_height = int(height * 0.7)
    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    size = 64 if width > height else 56
    while True:
        font = _font(size, cjk)
        lines = _wrap(probe, prompt, font, box_width - 40)
        line_height = int(size * 1.25)
        if len(lines) * line_height + 40 <= max_height or size <= 22:
            break
        size -= 4
    max_lines = max(1, (max_height - 40) // line_height)
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], lines[max_lines - 1][:40] + "…"]
    panel = Image.new("RGBA", (box_width, len(lines) * line_height + 40), (0, 0, 0, 110))
    draw = ImageDraw.Draw(panel)
    for i, line in enumerate(lines):
        draw.text((20, 20 + i * line_height), line, font=font, fill=(255, 255, 255, 255))
    return panel, (margin, (height - panel.height) // 2)


def _palette(digest: bytes) -> tuple[tuple[int, int, int], ...]:
    hue = digest[0] / 255
    colours = (
        colorsys.hsv_to_rgb(hue, 0.7, 0.75),
        colorsys.hsv_to_rgb((hue + 0.12) % 1, 0.8, 0.3),
        colorsys.hsv_to_rgb((hue + 0.5) % 1, 0.45, 0.95),
    )
    return tuple(tuple(int(c * 255) for c in colour) for colour in colours)


def _tone(digest: bytes, total_samples: int, block: int = 1024) -> Iterable[bytes]:
    """A sine tone (pitch from the prompt) with soft fades and a slow swell, as float32 blocks."""
    # A pentatonic scale keeps neighbouring clips from sounding like alarms.
    frequency = (220.0, 247.5, 277.2, 330.0, 370.0, 440.0)[digest[1] % 6] * (1 + digest[4] % 2)
    fade = SAMPLE_RATE // 3
    step = 2 * math.pi * frequency / SAMPLE_RATE
    swell = 2 * math.pi * 0.25 / SAMPLE_RATE
    for start in range(0, total_samples, block):
        count = min(block, total_samples - start)
        samples = array("f")
        for n in range(start, start + count):
            envelope = min(1.0, n / fade, (total_samples - n) / fade) * (0.75 + 0.25 * math.sin(swell * n))
            samples.append(0.25 * envelope * math.sin(step * n))
        yield samples.tobytes()


class RenderCancelled(Exception):
    """The server stopped while a clip was being encoded."""


def render_video(
    path: str | Path,
    *,
    prompt: str,
    duration: int | str = 5,
    aspect_ratio: str = "16:9",
    cancel: threading.Event | None = None,
) -> dict:
    """Encode the clip for a prompt into path; returns width, height, seconds.

    Frames are streamed to the encoder one at a time. The background is one
    wide gradient made once and cropped at a moving offset, so each frame costs
    a crop, two ellipses and a paste rather than a full redraw.
    """
    import av
    from PIL import Image, ImageDraw, ImageFont

    seconds = pick_duration(prompt, duration)
    width, height = pick_size(prompt, aspect_ratio)
    digest = prompt_digest(prompt)
    light, dark, accent = _palette(digest)

    # A gradient light -> dark -> light, twice the frame wide, so a crop that
    # slides by one frame width over the clip loops seamlessly.
    ramp = Image.linear_gradient("L").rotate(90, expand=True).resize((width, height))
    half = Image.composite(
        Image.new("RGB", (width, height), dark), Image.new("RGB", (width, height), light), ramp
    )
    strip = Image.new("RGB", (width * 2, height))
    strip.paste(half, (0, 0))
    strip.paste(half.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (width, 0))
    panel, panel_at = _text_layer(prompt, width, height)
    clock_font = (
        ImageFont.truetype(_DEJAVU, 28) if os.path.exists(_DEJAVU) else ImageFont.load_default(size=28)
    )
    radius = min(width, height) // 6

    container = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
    try:
        video = container.add_stream("libx264", rate=FPS, options={"preset": "veryfast", "crf": "28"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = container.add_stream("aac", rate=SAMPLE_RATE)
        audio.layout = "mono"
        frames = seconds * FPS
        for i in range(frames):
            if cancel is not None and cancel.is_set():
                raise RenderCancelled
            t = i / FPS
            offset = int(i / frames * width)
            frame = strip.crop((offset, 0, offset + width, height))
            draw = ImageDraw.Draw(frame)
            cx = int(width / 2 + width / 3 * math.sin(t * 0.9 + digest[5]))
            cy = int(height / 2 + height / 3 * math.cos(t * 1.3 + digest[6]))
            draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=accent)
            draw.ellipse(
                (width - cx - radius // 2, cy - radius // 2, width - cx + radius // 2, cy + radius // 2),
                fill=dark,
            )
            frame.paste(panel, panel_at, panel)
            # A running clock and a progress bar, so reviewers can point at moments.
            draw.rectangle((0, height - 8, int(width * (i + 1) / frames), height), fill=(255, 255, 255))
            draw.text((24, height - 52), f"{t:05.2f}s / {seconds}s", font=clock_font, fill=(255, 255, 255))
            for packet in video.encode(av.VideoFrame.from_image(frame)):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)

        pts = 0
        for chunk in _tone(digest, seconds * SAMPLE_RATE, audio.codec_context.frame_size or 1024):
            samples = len(chunk) // 4
            audio_frame = av.AudioFrame(format="fltp", layout="mono", samples=samples)
            audio_frame.planes[0].update(chunk)
            audio_frame.sample_rate = SAMPLE_RATE
            audio_frame.pts = pts
            pts += samples
            for packet in audio.encode(audio_frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
    except BaseException:
        # A cancelled or failed encode leaves a partial file nobody will serve.
        with contextlib.suppress(Exception):
            container.close()
        raise
    container.close()
    return {"width": width, "height": height, "seconds": seconds}


# --- Tasks -------------------------------------------------------------------------


@dataclass
class DemoTask:
    id: str
    created: float
    prompt: str
    duration: int | str
    aspect_ratio: str
    callback_url: str
    generation_seconds: float
    fail_code: str = ""
    born_expired: bool = False
    status: str = "pending"
    file_token: str = ""
    file_path: str = ""
    finished_at: float | None = None
    video_seconds: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def output_tokens(self) -> int:
        return TOKENS_PER_SECOND * pick_duration(self.prompt, self.duration)

    @property
    def prompt_tokens(self) -> int:
        return max(1, len(self.prompt) // 4)

    def to_json(self, base_url: str, now: float) -> dict:
        credits_reserved = round((self.output_tokens + self.prompt_tokens) / 1000 * CREDITS_PER_1K_TOKENS, 2)
        data: dict[str, Any] = {
            "created": int(self.created),
            "id": self.id,
            "model": MODEL,
            "object": "video.generation.task",
            "progress": 0,
            "status": self.status,
            "task_info": {"can_cancel": False, "estimated_time": max(1, math.ceil(self.generation_seconds))},
            "type": "video",
            "usage": {
                "billing_rule": "per_token",
                "credits_reserved": credits_reserved,
                "user_group": "default",
            },
        }
        if self.status in ("pending", "processing"):
            elapsed = now - self.created
            fraction = elapsed / self.generation_seconds if self.generation_seconds > 0 else 1
            # Never 100 until the file is really there.
            data["progress"] = max(0, min(99, int(fraction * 100)))
        elif self.status == "completed":
            data["progress"] = 100
            data["results"] = [f"{base_url}/files/{self.file_token}.mp4"]
            data["task_info"]["video_duration"] = self.video_seconds
            data["usage"].update(
                {
                    "credits_used": credits_reserved,
                    "prompt_tokens": self.prompt_tokens,
                    "completion_tokens": self.output_tokens,
                    "total_tokens": self.prompt_tokens + self.output_tokens,
                }
            )
        elif self.status == "failed":
            data["progress"] = 100
            data["error"] = {
                "code": self.fail_code,
                "message": FAILURE_MESSAGES.get(self.fail_code, f"The generation failed ({self.fail_code})."),
                "type": "generation_error",
            }
            data["usage"].update({"credits_used": 0, "total_tokens": 0})
        return data


@dataclass
class QueuedFault:
    name: str
    arg: str
    on: str
    remaining: int


def _new_task_id(now: float) -> str:
    alphabet = string.ascii_lowercase + string.digits
    return f"task-unified-{int(now)}-{''.join(secrets.choice(alphabet) for _ in range(8))}"


def callback_url_problem(url: Any, *, allow_insecure: bool) -> str:
    """Why a callback_url is refused, or "" when it is fine."""
    if not isinstance(url, str) or not url:
        return "callback_url must be a non-empty string"
    if len(url) > MAX_CALLBACK_URL_LENGTH:
        return "callback_url must be at most 2048 characters"
    parts = urlsplit(url)
    allowed = ("http", "https") if allow_insecure else ("https",)
    if parts.scheme not in allowed or not parts.hostname:
        return "callback_url must be an HTTPS URL"
    if allow_insecure:
        return ""
    host = parts.hostname.lower()
    if host == "localhost" or host.endswith(".localhost") or host.endswith(".internal"):
        return "callback_url must not point at an internal address"
    with contextlib.suppress(ValueError):
        if not ipaddress.ip_address(host).is_global:
            return "callback_url must not point at an internal address"
    return ""


# --- The server --------------------------------------------------------------------


class DemoProvider(ThreadingHTTPServer):
    """The demo provider; all options can be changed on the instance while it runs."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int] = ("127.0.0.1", 0),
        *,
        generation_seconds: float = 8.0,
        result_ttl: float = 24 * 3600,
        allow_insecure_callbacks: bool = False,
        revoked_keys: Sequence[str] = ("sk-revoked",),
        broke_keys: Sequence[str] = ("sk-broke",),
        faults: Sequence[str] = (),
        public_url: str = "",
        big_file_mb: int = 0,
        callback_delays: Sequence[float] = (1, 2, 4),
        callback_timeout: float = 10,
        files_dir: str | None = None,
        encoders: int = 2,
    ) -> None:
        super().__init__(address, DemoHandler)
        self.generation_seconds = generation_seconds
        self.result_ttl = result_ttl
        self.allow_insecure_callbacks = allow_insecure_callbacks
        self.revoked_keys = set(revoked_keys)
        self.broke_keys = set(broke_keys)
        self.standing_faults = [parse_fault(f) for f in faults]
        self.public_url = public_url.rstrip("/")
        self.big_file_mb = big_file_mb
        self.callback_delays = tuple(callback_delays)
        self.callback_timeout = callback_timeout
        self.tasks: dict[str, DemoTask] = {}
        self.queued_faults: list[QueuedFault] = []
        self.callback_attempts: list[dict] = []
        self.requests_seen: list[tuple[str, str]] = []  # (method, path), for tests
        self.file_requests_with_auth = 0  # result downloads must not carry the API key
        # Merged into every task object, to rehearse fields the contract does not document.
        self.extra_task_fields: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._own_files_dir = files_dir is None
        self.files_dir = Path(files_dir or tempfile.mkdtemp(prefix="demoprovider-"))
        self._encoder = ThreadPoolExecutor(max_workers=max(1, encoders), thread_name_prefix="demo-encode")
        self._serving = False
        self._closed = False
        self._stopping = threading.Event()

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url
        host, port = self.server_address[:2]
        if host in ("0.0.0.0", "::", ""):  # noqa: S104 - naming, not binding
            host = "127.0.0.1"
        if ":" in str(host):
            host = f"[{host}]"
        return f"http://{host}:{port}"

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._serving = True
        try:
            super().serve_forever(poll_interval)
        finally:
            self._serving = False

    def shutdown(self) -> None:
        """Stop serving (if serving) and release the socket, threads and files."""
        if self._serving:
            super().shutdown()
        self.server_close()

    def server_close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        super().server_close()
        # Encoders notice _stopping within a frame, so waiting for them is short
        # and their files are closed before the folder goes.
        self._encoder.shutdown(wait=True, cancel_futures=True)
        if self._own_files_dir:
            shutil.rmtree(self.files_dir, ignore_errors=True)

    # Faults

    def queue_fault(self, fault: str, *, count: int = 1, on: str = "any") -> None:
        name, arg = parse_fault(fault)
        if on not in REQUEST_KINDS:
            raise ValueError(f"on must be one of {', '.join(REQUEST_KINDS)}")
        with self._lock:
            self.queued_faults.append(QueuedFault(name, arg, on, max(1, int(count))))

    def clear_faults(self) -> None:
        with self._lock:
            self.queued_faults.clear()

    def take_fault(self, kind: str, header: str | None) -> tuple[str, str] | None:
        """The fault for this request: its header first, then the queue, then standing ones."""
        if header:
            name, arg = parse_fault(header)
            if kind in FAULT_KINDS.get(name, (kind,)):
                return name, arg
        with self._lock:
            for queued in self.queued_faults:
                if queued.on in (kind, "any") and kind in FAULT_KINDS.get(queued.name, (kind,)):
                    queued.remaining -= 1
                    if queued.remaining <= 0:
                        self.queued_faults.remove(queued)
                    return queued.name, queued.arg
        for name, arg in self.standing_faults:
            if kind in FAULT_KINDS.get(name, (kind,)):
                return name, arg
        return None

    # Tasks

    def create_task(self, body: dict, fault: tuple[str, str] | None) -> tuple[DemoTask, dict]:
        """Record a task and start its work; returns it and its object as at creation."""
        now = time.time()
        task = DemoTask(
            id=_new_task_id(now),
            created=now,
            prompt=body["prompt"],
            duration=body.get("duration", 10),
            aspect_ratio=body.get("aspect_ratio", "16:9"),
            callback_url=body.get("callback_url", ""),
            generation_seconds=self.generation_seconds,
        )
        if fault and fault[0] == "fail":
            task.fail_code = fault[1] or "content_policy_violation"
        if fault and fault[0] == "expired":
            task.born_expired = True
        # Snapshot before the encoder can move it on: a create answers "pending".
        created = task.to_json(self.base_url, now)
        with self._lock:
            self.tasks[task.id] = task
        log.info("Demo provider: created %s (%s s, %s)", task.id, task.duration, task.aspect_ratio)
        self._encoder.submit(self._work, task)
        return task, created

    def _work(self, task: DemoTask) -> None:
        """Encode the clip (unless it is to fail), then finish when the generation time is up.

        The wait happens on a timer, not in the encoder pool, so a burst of
        tasks does not queue behind each other's waiting.
        """
        if self._closed:
            return
        started = time.time()
        with task.lock:
            task.status = "processing"
        try:
            if not task.fail_code:
                token = secrets.token_urlsafe(18)
                path = self.files_dir / f"{token}.mp4"
                info = render_video(
                    path,
                    prompt=task.prompt,
                    duration=task.duration,
                    aspect_ratio=task.aspect_ratio,
                    cancel=self._stopping,
                )
                log.info("Demo provider: encoded %s in %.1fs", task.id, time.time() - started)
                task.file_token, task.file_path, task.video_seconds = token, str(path), info["seconds"]
        except RenderCancelled:
            return
        except Exception:
            log.exception("Demo provider: encoding %s failed", task.id)
            task.fail_code = "generation_error"
        remaining = task.created + task.generation_seconds - time.time()
        timer = threading.Timer(max(0.0, remaining), self._finish, (task,))
        timer.daemon = True
        timer.start()

    def _finish(self, task: DemoTask) -> None:
        if self._closed:
            return
        with task.lock:
            task.status = "failed" if task.fail_code else "completed"
            task.finished_at = time.time()
        if task.callback_url:
            self._send_callback(task)

    def _send_callback(self, task: DemoTask) -> None:
        body = json.dumps(task.to_json(self.base_url, time.time())).encode()
        delays = (0.0, *self.callback_delays)
        for attempt, delay in enumerate(delays):
            if delay:
                time.sleep(delay)
            request = urllib.request.Request(  # noqa: S310 - the scheme was checked at creation
                task.callback_url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "EvoLink-Demo-Callback/1"},
            )
            outcome: dict[str, Any] = {"task_id": task.id, "attempt": attempt + 1, "at": time.time()}
            try:
                with urllib.request.urlopen(request, timeout=self.callback_timeout) as response:  # noqa: S310
                    outcome["status"] = response.status
            except urllib.error.HTTPError as exc:
                outcome["status"] = exc.code
            except (OSError, ValueError) as exc:
                outcome["error"] = type(exc).__name__
            self.callback_attempts.append(outcome)
            if 200 <= outcome.get("status", 0) < 300:
                return
            log.info("Demo provider: callback for %s attempt %d: %s", task.id, attempt + 1, outcome)
        log.warning("Demo provider: gave up calling back for %s", task.id)

    def find_file(self, token: str) -> DemoTask | None:
        with self._lock:
            for task in self.tasks.values():
                if task.file_token and secrets.compare_digest(task.file_token, token):
                    return task
        return None


class DemoHandler(BaseHTTPRequestHandler):
    server: DemoProvider
    protocol_version = "HTTP/1.1"
    server_version = "EvoLinkDemo/1.0"
    # Headers and body go out in separate writes: without TCP_NODELAY each answer on
    # a kept-alive connection waits ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        # The request line only: headers (and so keys) are never logged.
        log.debug("Demo provider %s: " + format, self.address_string(), *args)

    # Plumbing

    def _send(self, status: int, body: bytes | dict, headers: dict[str, str] | None = None) -> None:
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            content_type = "application/json"
        else:
            content_type = "application/json" if body else "text/plain"
        delay, self._delay = getattr(self, "_delay", 0.0), 0.0
        if delay:
            time.sleep(delay)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(
        self, status: int, message: str, *, param: str = "", code: str | int = "", **headers: str
    ) -> None:
        error = {"code": code or HTTPStatus(status).phrase.lower().replace(" ", "_"), "message": message}
        error["type"] = ERROR_TYPES.get(status, "invalid_request_error")
        if param:
            error["param"] = param
        if status == 402:
            error["fallback_suggestion"] = "Top up the account's credits, then try again."
        self._send(status, {"error": error}, headers)

    def _read_body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            size = int(length)
        except ValueError:
            return None
        if size > MAX_BODY_BYTES:
            self.close_connection = True
            return None
        return self.rfile.read(size)

    def _drop(self) -> None:
        """Close the connection without a byte of answer."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _key(self) -> str:
        header = self.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        return key.strip() if scheme.lower() == "bearer" else ""

    def _auth_problem(self, kind: str) -> bool:
        """Answer 401/402 and return True when the key may not do this."""
        key = self._key()
        if not key:
            self._error(
                401, "Missing or empty API key: send Authorization: Bearer <key>.", code="invalid_api_key"
            )
            return True
        if key in self.server.revoked_keys:
            self._error(401, "The API key is invalid or has been revoked.", code="invalid_api_key")
            return True
        if kind == "create" and key in self.server.broke_keys:
            self._error(402, "Insufficient credits for this request.", code="insufficient_quota")
            return True
        return False

    def _apply_fault(self, fault: tuple[str, str] | None) -> bool:
        """Faults that answer instead of the normal handler; True when answered."""
        if not fault:
            return False
        name, arg = fault
        if name == "drop":
            self._drop()
            return True
        if name == "429":
            seconds = arg or "1"
            self._error(429, "Too many requests; slow down.", code="rate_limited", **{"Retry-After": seconds})
            return True
        if name.isdigit():
            status = int(name)
            if arg == "empty":
                self._send(status, b"")
            else:
                self._error(status, f"Demo fault {status}.", code=f"demo_{status}")
            return True
        return False

    def _answer(self, fault: tuple[str, str] | None, status: int, body: dict) -> None:
        """Send a successful answer, bent by the faults that act after handling."""
        name, _arg = fault or ("", "")
        if name == "drop_after_create":
            self._drop()
        elif name == "malformed":
            self._send(200, b'{"id": "task-unified-')
        else:
            self._send(status, {**body, **self.server.extra_task_fields})

    def _fault_header(self) -> str | None:
        return self.headers.get("X-Demo-Fault")

    def _take_fault(self, kind: str) -> tuple[str, str] | bool | None:
        try:
            fault = self.server.take_fault(kind, self._fault_header())
        except ValueError as exc:
            self._error(400, str(exc), param="X-Demo-Fault")
            return False
        if fault and fault[0] == "slow" and kind != "file":
            # The request is handled at once (a create creates); only the answer waits.
            self._delay = float(fault[1] or 5)
        return fault

    # Routes

    def do_GET(self) -> None:
        self.server.requests_seen.append(("GET", self.path))
        path = urlsplit(self.path).path
        if path.startswith("/v1/tasks/"):
            self._query(path.removeprefix("/v1/tasks/"))
        elif path.startswith("/files/") and path.endswith(".mp4"):
            self._file(path.removeprefix("/files/").removesuffix(".mp4"))
        elif path == "/_demo/faults":
            faults = [vars(f) for f in self.server.queued_faults]
            self._send(
                200, {"queued": faults, "standing": [":".join(f) for f in self.server.standing_faults]}
            )
        elif path == "/_demo/tasks":
            now = time.time()
            tasks = [t.to_json(self.server.base_url, now) for t in list(self.server.tasks.values())]
            self._send(200, {"tasks": tasks})
        elif path == "/":
            self._send(200, {"service": "EvoLink demo provider", "model": MODEL})
        else:
            self._error(404, f"No route for {path}.")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        self.server.requests_seen.append(("POST", self.path))
        path = urlsplit(self.path).path
        raw = self._read_body()
        if raw is None:
            self._error(413, "The request body is too large.")
            return
        if path == "/v1/videos/generations":
            self._create(raw)
        elif path == "/_demo/faults":
            self._control_faults(raw)
        elif path == "/_demo/config":
            self._control_config(raw)
        else:
            self._error(404, f"No route for {path}.")

    def do_DELETE(self) -> None:
        self._read_body()
        if urlsplit(self.path).path == "/_demo/faults":
            self.server.clear_faults()
            self._send(200, {"queued": []})
        else:
            self._error(404, "No such route.")

    def _create(self, raw: bytes) -> None:
        fault = self._take_fault("create")
        if fault is False or self._apply_fault(fault) or self._auth_problem("create"):
            return
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            self._error(400, "The request body is not valid JSON.")
            return
        problem = self._validate(body)
        if problem:
            status, message, param = problem
            self._error(status, message, param=param)
            return
        _task, created = self.server.create_task(body, fault)  # type: ignore[arg-type]
        self._answer(fault, 200, created)  # type: ignore[arg-type]

    def _validate(self, body: Any) -> tuple[int, str, str] | None:
        if not isinstance(body, dict):
            return 400, "The request body must be a JSON object.", ""
        if body.get("model") != MODEL:
            return 400, f"model is required and must be {MODEL}.", "model"
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return 400, "prompt is required and must be a non-empty string.", "prompt"
        if len(prompt) > MAX_PROMPT_CHARS:
            return 413, f"prompt is longer than {MAX_PROMPT_CHARS} characters.", "prompt"
        if "duration" in body:
            duration = body["duration"]
            valid = duration == "auto" or (
                isinstance(duration, int) and not isinstance(duration, bool) and 3 <= duration <= 10
            )
            if not valid:
                return 400, 'duration must be an integer from 3 to 10, or "auto".', "duration"
        if "aspect_ratio" in body and body["aspect_ratio"] not in ("16:9", "9:16", "auto"):
            return 400, 'aspect_ratio must be "16:9", "9:16" or "auto".', "aspect_ratio"
        if "callback_url" in body:
            problem = callback_url_problem(
                body["callback_url"], allow_insecure=self.server.allow_insecure_callbacks
            )
            if problem:
                return 400, problem + ".", "callback_url"
        return None

    def _query(self, task_id: str) -> None:
        fault = self._take_fault("query")
        if fault is False or self._apply_fault(fault) or self._auth_problem("query"):
            return
        task = self.server.tasks.get(task_id)
        if task is None:
            self._error(404, f"Task {task_id[:100]} not found.", code="task_not_found")
            return
        with task.lock:
            body = task.to_json(self.server.base_url, time.time())
        self._answer(fault, 200, body)  # type: ignore[arg-type]

    def _file(self, token: str) -> None:
        if self.headers.get("Authorization"):
            self.server.file_requests_with_auth += 1
        fault = self._take_fault("file")
        if fault is False or self._apply_fault(fault):
            return
        name, arg = fault or ("", "")
        task = self.server.find_file(token)
        if task is None or not task.file_path or not os.path.exists(task.file_path):
            self._error(404, "No such file.")
            return
        expired = task.born_expired or name == "expired"
        expires_at = (task.finished_at or task.created) + self.server.result_ttl
        if expired or time.time() >= expires_at:
            self._error(410, "This result link has expired (links are valid for 24 hours).", code="expired")
            return
        if name == "slow":
            time.sleep(float(arg or 5))
        if name == "drop":
            self._drop()
            return
        size = os.path.getsize(task.file_path)
        big_mb = int(arg or 0) if name == "big" else self.server.big_file_mb
        # Padding is an MP4 "free" box after the movie: players skip it.
        padding = max(0, big_mb * 1024 * 1024 - size)
        if padding and padding < 8:
            padding = 8
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(size + padding))
        self.end_headers()
        if self.command == "HEAD":
            return
        try:
            with open(task.file_path, "rb") as file:
                shutil.copyfileobj(file, self.wfile, 256 * 1024)
            if padding:
                self.wfile.write(padding.to_bytes(4, "big") + b"free")
                remaining = padding - 8
                zeros = bytes(256 * 1024)
                while remaining > 0:
                    chunk = min(remaining, len(zeros))
                    self.wfile.write(zeros[:chunk])
                    remaining -= chunk
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _control_faults(self, raw: bytes) -> None:
        try:
            body = json.loads(raw or b"{}")
            self.server.queue_fault(
                str(body["fault"]), count=int(body.get("count", 1)), on=str(body.get("on", "any"))
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            self._error(400, f"Expected {{'fault': ..., 'count': 1, 'on': 'any'}}: {exc}", param="fault")
            return
        self._send(200, {"queued": [vars(f) for f in self.server.queued_faults]})

    def _control_config(self, raw: bytes) -> None:
        try:
            body = json.loads(raw or b"{}")
            for name in ("generation_seconds", "result_ttl", "big_file_mb"):
                if name in body:
                    setattr(self.server, name, type(getattr(self.server, name))(body[name]))
        except (json.JSONDecodeError, TypeError, ValueError, AttributeError) as exc:
            self._error(400, f"Bad config: {exc}")
            return
        self._send(
            200,
            {
                "generation_seconds": self.server.generation_seconds,
                "result_ttl": self.server.result_ttl,
                "big_file_mb": self.server.big_file_mb,
            },
        )


def start_in_thread(host: str = "127.0.0.1", port: int = 0, **options: Any) -> tuple[DemoProvider, str]:
    """Run a demo provider in a daemon thread; returns (server, base_url).

    Stop it with server.shutdown(), which also removes its files.
    """
    server = DemoProvider((host, port), **options)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="demo-provider", daemon=True
    )
    # Marked before the thread runs, so an immediate shutdown() still waits for it.
    server._serving = True
    thread.start()
    return server, server.base_url
