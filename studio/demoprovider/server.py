"""The demo provider's HTTP server: EvoLink's routes, its control routes, and callbacks."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .faults import Fault, Faults
from .ledger import DEFAULT_CREDITS, MAX_KEY_LENGTH, IdempotencyConflict, Ledger
from .render import RENDERS, RenderCancelled, pick_duration, pick_size, render_video, tiny_clip
from .tasks import (
    DEFAULT_ASPECT_RATIO,
    DEFAULT_DURATION,
    MODEL,
    STATUSES,
    DemoTask,
    create_problem,
    new_task_id,
)

log = logging.getLogger("studio.demoprovider")

MAX_BODY_BYTES = 1024 * 1024
MAX_BATCH = 50
# The batch read on ("on"), or switched off the ways a gateway without it may answer.
BATCH_READS = ("on", "404", "405", "501", "malformed")
MAX_PAGE_SIZE = 50
DEFAULT_PAGE_SIZE = 20
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "internal_error",
    502: "upstream_error",
    503: "service_unavailable",
}


class QuotaExceeded(Exception):
    """The account cannot reserve the price of the task."""


def key_digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


class DemoProvider(ThreadingHTTPServer):
    """The demo provider; all options can be changed on the instance while it runs."""

    daemon_threads = True
    # socketserver's default backlog is 5: a studio opening its sweep's connections
    # at once (32 reads in flight) would see connects dropped and retried a second later.
    request_queue_size = 128

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
        render: str = "full",
        honour_idempotency: bool = True,
        credits: float = DEFAULT_CREDITS,
        batch_reads: str = "on",
    ) -> None:
        if render not in RENDERS:
            raise ValueError(f"render must be one of {', '.join(RENDERS)}")
        if batch_reads not in BATCH_READS:
            raise ValueError(f"batch_reads must be one of {', '.join(BATCH_READS)}")
        super().__init__(address, DemoHandler)
        self.generation_seconds = generation_seconds
        self.result_ttl = result_ttl
        self.allow_insecure_callbacks = allow_insecure_callbacks
        self.revoked_keys = set(revoked_keys)
        self.broke_keys = set(broke_keys)
        self.faults = Faults(faults)
        self.ledger = Ledger(honour_keys=honour_idempotency, credits=credits)
        self.public_url = public_url.rstrip("/")
        self.big_file_mb = big_file_mb
        self.render = render
        # "on", or how a gateway without the batch read answers it (BATCH_READS).
        self.batch_reads = batch_reads
        self.callback_delays = tuple(callback_delays)
        self.callback_timeout = callback_timeout
        self.tasks: dict[str, DemoTask] = {}
        self.callback_attempts: list[dict] = []
        # Tasks whose callback was given up on after the last retry: tests wait on it.
        self.callbacks_given_up: list[str] = []
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

    def handle_error(self, request, client_address) -> None:
        # A client that gave up (a read timeout, a drop test) is expected here: no traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            log.info("Demo provider: %s:%s went away before its answer", *client_address[:2])
            return
        super().handle_error(request, client_address)

    def shutdown(self) -> None:
        """Stop serving (if serving) and release the socket, threads and files."""
        if self._serving:
            super().shutdown()
        self.server_close()

    def server_close(self) -> None:
        if not hasattr(self, "_closed"):
            # The port could not be had: socketserver closes the socket from within
            # __init__, before anything else of ours exists.
            super().server_close()
            return
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

    # Faults and settings

    def queue_fault(self, fault: str, *, count: int = 1, on: str = "any") -> None:
        self.faults.queue(fault, count=count, on=on)

    def clear_faults(self) -> None:
        self.faults.clear()

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change settings by name (POST /_demo/config); returns them all. ValueError if bad."""
        for name, value in changes.items():
            if name in ("generation_seconds", "result_ttl"):
                setattr(self, name, float(value))
            elif name == "big_file_mb":
                self.big_file_mb = int(value)
            elif name == "render":
                if value not in RENDERS:
                    raise ValueError(f"render must be one of {', '.join(RENDERS)}")
                self.render = value
            elif name == "honour_idempotency":
                if not isinstance(value, bool):
                    raise ValueError("honour_idempotency must be true or false")
                self.ledger.honour_keys = value
            elif name == "credits":
                self.ledger.credits = float(value)
            elif name == "batch_reads":
                if value not in BATCH_READS:
                    raise ValueError(f"batch_reads must be one of {', '.join(BATCH_READS)}")
                self.batch_reads = value
            else:
                raise ValueError(f"unknown setting {name!r}")
        return {
            "generation_seconds": self.generation_seconds,
            "result_ttl": self.result_ttl,
            "big_file_mb": self.big_file_mb,
            "render": self.render,
            "honour_idempotency": self.ledger.honour_keys,
            "credits": self.ledger.credits,
            "batch_reads": self.batch_reads,
        }

    # Tasks

    def task_object(self, task: DemoTask, now: float) -> dict:
        with task.lock:
            return {**task.to_json(self.base_url, now), **self.extra_task_fields}

    def all_tasks(self) -> list[DemoTask]:
        """The tasks in creation order, copied so readers do not race a create."""
        with self._lock:
            return list(self.tasks.values())

    def ledger_report(self) -> dict:
        """Creates and tasks per idempotency key, billed and fetched tasks (see Ledger.report)."""
        with self._lock:
            return self.ledger.report(list(self.tasks.values()))

    def create_task(
        self, body: dict, fault: Fault | None, *, idempotency_key: str = "", api_key: str = ""
    ) -> tuple[DemoTask, dict, bool]:
        """Record a task and start its work, or find the one its key made.

        Returns the task, its object as the answer should show it, and whether
        that answer is a replay. Raises IdempotencyConflict or QuotaExceeded.
        """
        now = time.time()
        task = DemoTask(
            id=new_task_id(now),
            created=now,
            prompt=body["prompt"],
            duration=body.get("duration", DEFAULT_DURATION),
            aspect_ratio=body.get("aspect_ratio", DEFAULT_ASPECT_RATIO),
            callback_url=body.get("callback_url", ""),
            generation_seconds=self.generation_seconds,
            render=self.render,
            idempotency_key=idempotency_key,
            key_digest=key_digest(api_key),
        )
        if fault and fault[0] == "fail":
            task.fail_code = fault[1] or "content_policy_violation"
        if fault and fault[0] == "expired":
            task.born_expired = True
        # One lock from the ledger's look-up to the task's insertion: two creates
        # racing with one key make one task.
        with self._lock:
            if idempotency_key:
                original = self.ledger.replay(idempotency_key, body, self.tasks, now)
                if original is not None:
                    log.info("Demo provider: replayed %s for its idempotency key", original.id)
                    return original, self.task_object(original, now), True
            if self.ledger.remaining(self.tasks.values()) < task.credits_reserved:
                raise QuotaExceeded
            # Snapshot before the encoder can move it on: a create answers "pending".
            created = {**task.to_json(self.base_url, now), **self.extra_task_fields}
            self.tasks[task.id] = task
            if idempotency_key:
                self.ledger.record(idempotency_key, body, task, now)
        log.info("Demo provider: created %s (%s s, %s)", task.id, task.duration, task.aspect_ratio)
        self._encoder.submit(self._work, task)
        return task, created, False

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
                if task.render == "tiny":
                    width, height = pick_size(task.prompt, task.aspect_ratio)
                    seconds = pick_duration(task.prompt, task.duration)
                    path = tiny_clip(width=width, height=height, seconds=seconds)
                else:
                    path = self.files_dir / f"{token}.mp4"
                    seconds = render_video(
                        path,
                        prompt=task.prompt,
                        duration=task.duration,
                        aspect_ratio=task.aspect_ratio,
                        cancel=self._stopping,
                    )["seconds"]
                    log.info("Demo provider: encoded %s in %.1fs", task.id, time.time() - started)
                task.file_token, task.file_path, task.video_seconds = token, str(path), seconds
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
        body = json.dumps(self.task_object(task, time.time())).encode()
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
        self.callbacks_given_up.append(task.id)
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

    def _apply_fault(self, fault: Fault | None) -> bool:
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

    def _answer(
        self, fault: Fault | None, status: int, body: dict, headers: dict[str, str] | None = None
    ) -> None:
        """Send a successful answer, bent by the faults that act after handling."""
        name, _arg = fault or ("", "")
        if name == "drop_after_create":
            self._drop()
        elif name == "malformed":
            self._send(200, b'{"id": "task-unified-')
        else:
            self._send(status, body, headers)

    def _begin(self, kind: str) -> tuple[bool, Fault | None]:
        """Take this request's fault and check its key; (False, _) when already answered."""
        try:
            fault = self.server.faults.take(kind, self.headers.get("X-Demo-Fault"))
        except ValueError as exc:
            self._error(400, str(exc), param="X-Demo-Fault")
            return False, None
        if fault and fault[0] == "slow" and kind != "file":
            # The request is handled at once (a create creates); only the answer waits.
            self._delay = float(fault[1] or 5)
        if kind == "file":
            return not self._apply_fault(fault), fault
        return not (self._apply_fault(fault) or self._auth_problem(kind)), fault

    # Routes

    def do_GET(self) -> None:
        self.server.requests_seen.append(("GET", self.path))
        parts = urlsplit(self.path)
        path = parts.path
        if path == "/v1/tasks":
            self._list(parse_qs(parts.query, keep_blank_values=True))
        elif path.startswith("/v1/tasks/"):
            self._query(path.removeprefix("/v1/tasks/"))
        elif path == "/v1/credits":
            self._credits()
        elif path.startswith("/files/") and path.endswith(".mp4"):
            self._file(path.removeprefix("/files/").removesuffix(".mp4"))
        elif path == "/_demo/faults":
            self._send(200, self.server.faults.describe())
        elif path == "/_demo/tasks":
            now = time.time()
            self._send(200, {"tasks": [self.server.task_object(t, now) for t in self.server.all_tasks()]})
        elif path == "/_demo/ledger":
            self._send(200, self.server.ledger_report())
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
        elif path == "/v1/tasks/batch":
            self._batch(raw)
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

    def _idempotency_key(self) -> tuple[str, str]:
        """(key, problem): the create's key from either header, or why it is refused."""
        given = {
            value.strip()
            for value in (self.headers.get("Idempotency-Key"), self.headers.get("X-Evo-Run-Id"))
            if value and value.strip()
        }
        if len(given) > 1:
            return "", "Idempotency-Key and X-Evo-Run-Id must carry the same value."
        key = given.pop() if given else ""
        if len(key) > MAX_KEY_LENGTH:
            return "", f"Idempotency-Key must be at most {MAX_KEY_LENGTH} characters."
        return key, ""

    def _create(self, raw: bytes) -> None:
        go, fault = self._begin("create")
        if not go:
            return
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            self._error(400, "The request body is not valid JSON.")
            return
        problem = create_problem(body, allow_insecure_callbacks=self.server.allow_insecure_callbacks)
        if problem:
            status, message, param = problem
            self._error(status, message, param=param)
            return
        key, key_problem = self._idempotency_key()
        if key_problem:
            self._error(400, key_problem, param="Idempotency-Key")
            return
        try:
            _task, answer, replayed = self.server.create_task(
                body, fault, idempotency_key=key, api_key=self._key()
            )
        except IdempotencyConflict:
            self._error(
                422,
                "This Idempotency-Key was first used for a different request; use a new key for a new task.",
                param="Idempotency-Key",
                code="idempotency_key_reused",
            )
            return
        except QuotaExceeded:
            self._error(402, "The account's credits do not cover this task.", code="insufficient_user_quota")
            return
        self._answer(fault, 200, answer, {"Idempotency-Replayed": "true"} if replayed else None)

    def _query(self, task_id: str) -> None:
        go, fault = self._begin("query")
        if not go:
            return
        task = self.server.tasks.get(task_id)
        if task is None:
            self._error(404, f"Task {task_id[:100]} not found.", code="task_not_found")
            return
        self._answer(fault, 200, self.server.task_object(task, time.time()))

    def _batch(self, raw: bytes) -> None:
        if self.server.batch_reads != "on":
            # A gateway without the batch read: no such route, a method it refuses, or a 200 of another shape.
            without = self.server.batch_reads
            if without == "malformed":
                self._send(200, {"object": "list", "items": []})
            else:
                self._error(int(without), f"No batch read here ({without}).")
            return
        go, fault = self._begin("query")
        if not go:
            return
        try:
            ids = json.loads(raw).get("task_ids")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            ids = None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            self._error(400, 'Expected {"task_ids": ["task-unified-…", …]}.', param="task_ids")
            return
        if len(ids) > MAX_BATCH:
            self._error(400, f"At most {MAX_BATCH} task ids per batch.", param="task_ids")
            return
        now = time.time()
        # In the order asked, each once; ids the account does not have are simply absent.
        found = [self.server.tasks.get(task_id) for task_id in dict.fromkeys(ids)]
        self._answer(fault, 200, {"data": [self.server.task_object(t, now) for t in found if t]})

    def _list(self, query: dict[str, list[str]]) -> None:
        go, fault = self._begin("query")
        if not go:
            return

        def one(name: str) -> str:
            return query.get(name, [""])[-1].strip()

        page_text, size_text, status = one("page") or "1", one("page_size"), one("status")
        if not page_text.isdigit() or int(page_text) < 1:
            self._error(400, "page must be a whole number from 1.", param="page")
            return
        if size_text and (not size_text.isdigit() or not 1 <= int(size_text) <= MAX_PAGE_SIZE):
            self._error(
                400, f"page_size must be a whole number from 1 to {MAX_PAGE_SIZE}.", param="page_size"
            )
            return
        if status and status not in STATUSES:
            self._error(400, f"status must be one of {', '.join(STATUSES)}.", param="status")
            return
        page, size = int(page_text), int(size_text or DEFAULT_PAGE_SIZE)
        kind, model = one("type"), one("model")
        matching = [
            t
            for t in reversed(self.server.all_tasks())  # newest first
            if (not status or t.status == status) and kind in ("", "video") and model in ("", MODEL)
        ]
        now = time.time()
        items = [t.to_list_item(now) for t in matching[(page - 1) * size : page * size]]
        self._answer(fault, 200, {"data": items, "total": len(matching), "page": page, "page_size": size})

    def _credits(self) -> None:
        go, fault = self._begin("query")
        if go:
            balance = self.server.ledger.balance(self.server.all_tasks(), key_digest(self._key()))
            self._answer(fault, 200, balance)

    def _file(self, token: str) -> None:
        if self.headers.get("Authorization"):
            self.server.file_requests_with_auth += 1
        go, fault = self._begin("file")
        if not go:
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
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return
        # Every byte went out: the ledger counts the result as fetched.
        with task.lock:
            task.downloads += 1

    def _control_faults(self, raw: bytes) -> None:
        try:
            body = json.loads(raw or b"{}")
            self.server.queue_fault(
                str(body["fault"]), count=int(body.get("count", 1)), on=str(body.get("on", "any"))
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            self._error(400, f"Expected {{'fault': ..., 'count': 1, 'on': 'any'}}: {exc}", param="fault")
            return
        self._send(200, {"queued": self.server.faults.describe()["queued"]})

    def _control_config(self, raw: bytes) -> None:
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise TypeError("expected a JSON object")
            settings = self.server.configure(body)
        except (json.JSONDecodeError, TypeError, ValueError) as exc:
            self._error(400, f"Bad config: {exc}")
            return
        self._send(200, settings)


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
