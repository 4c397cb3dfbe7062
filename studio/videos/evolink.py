"""The EvoLink client: the only module that speaks HTTP to the video provider.

It owns the base URL, the auth header, timeouts, retries and one error type,
`EvolinkError`, that says whether a failure is permanent or worth retrying later.
It knows nothing about Django, so the demo provider's tests and the pipeline use
it alike (see /work/shared/evolink-api.md for the contract it follows).

Creates carry an idempotency key (the generation's code, as `Idempotency-Key`
and `X-Evo-Run-Id`, like EvoLink's own clients). Once a create may have reached
the server (a read timeout, a connection that dropped after sending, a 5xx
without the provider's JSON error body, a garbled 200), the task may exist and
be billed: the client raises `EvolinkError(outcome_unknown=True)` and leaves it
to the caller, which may send the same create again with the same key later (a
gateway that honours the key answers with the original task, marked
`Idempotency-Replayed: true`) and must never send it with another key. A
refused connection, a connect timeout, a 429 or a clean JSON 5xx error answer
mean nothing was created, and those are retried here. Errors whose code is on
the gateway's "rejected before any charge" list created nothing at all.

The batch and list reads are not on the model's public page: where the gateway
answers them with 404, 405 or an odd shape, the client falls back (one query per
task; no list) and says so once in the log.

The API key lives only in the Authorization header of each request. It is never
put into a log line or an exception, and any provider text that echoes it is
redacted before it is kept.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx

log = logging.getLogger(__name__)

MODEL = "gemini-omni-flash-text-to-video"
DURATIONS = tuple(range(3, 11))
ASPECT_RATIOS = ("16:9", "9:16", "auto")
MAX_CALLBACK_URL_LENGTH = 2048
TASK_STATUSES = ("pending", "processing", "completed", "failed", "cancelled")
FINISHED_STATUSES = ("completed", "failed", "cancelled")

# Error codes the gateway uses for requests it refused before dispatching
# anything: no task was created and nothing was charged.
NO_CHARGE_CODES = frozenset(
    {
        "insufficient_quota",
        "insufficient_user_quota",
        "quota_not_enough",
        "account_balance_insufficient",
        "insufficient_token_quota",
        "key_quota_exhausted",
        "token_daily_quota_exceeded",
        "key_daily_quota_exhausted",
        "key_disabled",
        "key_expired",
        "key_model_not_allowed",
        "user_disabled",
    }
)
MAX_BATCH = 50
MAX_PAGE_SIZE = 50

# Statuses the contract says are not worth retrying.
PERMANENT_STATUSES = frozenset({400, 401, 402, 403, 404, 413})
# What a gateway without an endpoint beyond the public page answers it (also a malformed answer).
NOT_OFFERED_STATUSES = frozenset({404, 405, 501})
USER_AGENT = "OmniStudio/0.1 (+httpx)"


# --- The task object -------------------------------------------------------------

_KNOWN_TASK_FIELDS = frozenset(
    {
        "id",
        "created",
        "model",
        "object",
        "status",
        "progress",
        "results",
        "error",
        "task_info",
        "type",
        "usage",
    }
)
# Unknown field names already logged, so a new provider field is reported once
# per process rather than on every poll.
_seen_unknown_fields: set[str] = set()


def _as_int(value: Any, name: str, default: int | None = None) -> int | None:
    if value is None:
        return default
    if isinstance(value, bool):
        log.info("EvoLink task field %s is a boolean, expected a number", name)
        return default
    try:
        return int(float(value))
    except (TypeError, ValueError):
        log.info("EvoLink task field %s is not a number: %r", name, str(value)[:100])
        return default


def _as_float(value: Any, name: str) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        log.info("EvoLink task field %s is not a number: %r", name, str(value)[:100])
        return None


def _as_str(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class TaskError:
    """Why a task failed; `code` is the provider's business code, always a string here."""

    code: str = ""
    message: str = ""
    type: str = ""

    @classmethod
    def from_json(cls, data: Any) -> TaskError | None:
        if not data:
            return None
        if not isinstance(data, dict):
            log.info("EvoLink task error is not an object: %r", str(data)[:200])
            return cls(message=_as_str(data))
        return cls(
            code=_as_str(data.get("code")),
            message=_as_str(data.get("message")),
            type=_as_str(data.get("type")),
        )


@dataclass(frozen=True)
class TaskInfo:
    can_cancel: bool = False
    estimated_time: int | None = None  # seconds
    video_duration: float | None = None  # seconds

    @classmethod
    def from_json(cls, data: Any) -> TaskInfo:
        if data is None:
            return cls()
        if not isinstance(data, dict):
            log.info("EvoLink task_info is not an object: %r", str(data)[:200])
            return cls()
        return cls(
            can_cancel=bool(data.get("can_cancel", False)),
            estimated_time=_as_int(data.get("estimated_time"), "task_info.estimated_time"),
            video_duration=_as_float(data.get("video_duration"), "task_info.video_duration"),
        )


@dataclass(frozen=True)
class Task:
    """A task object as the provider sent it, typed, with the raw JSON kept whole."""

    id: str
    status: str
    created: int | None = None
    model: str = ""
    object: str = ""
    progress: int = 0
    results: list[str] = field(default_factory=list)
    error: TaskError | None = None
    task_info: TaskInfo = field(default_factory=TaskInfo)
    type: str = ""
    usage: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # fields the contract does not document
    raw: dict = field(default_factory=dict)
    # The gateway answered a create with a task it had already made for the same key.
    replayed: bool = False

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def result_url(self) -> str:
        return self.results[0] if self.results else ""

    @classmethod
    def from_json(cls, data: Any) -> Task:
        """Build a Task from a decoded JSON object, tolerating odd or missing fields.

        Only a non-object raises (ValueError): there is nothing to read then.
        A missing id or status is logged and left empty for the caller to judge.
        """
        if not isinstance(data, dict):
            raise ValueError(f"an EvoLink task must be a JSON object, got {type(data).__name__}")
        task_id = _as_str(data.get("id"))
        status = _as_str(data.get("status"))
        if not task_id:
            log.warning("EvoLink task object without an id")
        if status not in TASK_STATUSES:
            log.warning("EvoLink task %s has an unexpected status %r", task_id, status[:50])
        progress = _as_int(data.get("progress"), "progress", 0) or 0
        raw_results = data.get("results")
        if raw_results is None:
            results: list[str] = []
        elif isinstance(raw_results, str):
            log.info("EvoLink task %s: results is a string, expected a list", task_id)
            results = [raw_results]
        elif isinstance(raw_results, list):
            results = [r for r in raw_results if isinstance(r, str) and r]
            if len(results) != len(raw_results):
                log.info(
                    "EvoLink task %s: ignored %d non-URL results", task_id, len(raw_results) - len(results)
                )
        else:
            log.info("EvoLink task %s: results has an unexpected type", task_id)
            results = []
        usage = data.get("usage")
        if usage is not None and not isinstance(usage, dict):
            log.info("EvoLink task %s: usage is not an object", task_id)
            usage = {"value": usage}
        extra = {k: v for k, v in data.items() if k not in _KNOWN_TASK_FIELDS}
        new_names = set(extra) - _seen_unknown_fields
        if new_names:
            _seen_unknown_fields.update(new_names)
            log.info("EvoLink task has fields the contract does not document (kept): %s", sorted(new_names))
        return cls(
            id=task_id,
            status=status,
            created=_as_int(data.get("created"), "created"),
            model=_as_str(data.get("model")),
            object=_as_str(data.get("object")),
            progress=max(0, min(100, progress)),
            results=results,
            error=TaskError.from_json(data.get("error")),
            task_info=TaskInfo.from_json(data.get("task_info")),
            type=_as_str(data.get("type")),
            usage=dict(usage or {}),
            extra=extra,
            raw=data,
        )


@dataclass(frozen=True)
class TaskSummary:
    """One item of the account's recent tasks (`GET /v1/tasks`): no result links."""

    id: str
    status: str
    model: str = ""
    created_at: int | None = None
    has_results: bool = False
    has_error: bool = False
    raw: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> TaskSummary | None:
        if not isinstance(data, dict) or not _as_str(data.get("id")):
            return None
        return cls(
            id=_as_str(data.get("id")),
            status=_as_str(data.get("status")),
            model=_as_str(data.get("model")),
            created_at=_as_int(data.get("created_at"), "created_at"),
            has_results=bool(data.get("has_results")),
            has_error=bool(data.get("has_error")),
            raw=data,
        )


def create_body(
    *, prompt: str, duration: int | str, aspect_ratio: str, callback_url: str | None = None
) -> dict:
    """The JSON body of a create: what the client sends and what the composer's preview shows.

    The studio stores durations as strings ("5"); the provider wants an integer.
    """
    body: dict = {
        "model": MODEL,
        "prompt": prompt,
        "duration": "auto" if duration == "auto" else int(duration),
        "aspect_ratio": aspect_ratio,
    }
    if callback_url:
        body["callback_url"] = callback_url
    return body


# --- The one error type ----------------------------------------------------------

_USER_MESSAGES = {
    400: "The provider refused the request as invalid: {message}",
    401: "The team's EvoLink key was refused; an owner or admin can replace it in team settings.",
    402: "The EvoLink account needs credits; whoever pays for it must top it up, then try again.",
    403: "The EvoLink account is not allowed to do this: {message}",
    404: "The provider does not know this task any more; it is treated as lost. Generate it again if needed.",
    413: "The prompt is too long for the provider; shorten it and try again.",
    429: "The provider is busy (rate limited).",
}


class EvolinkError(Exception):
    """Anything that went wrong talking to the provider.

    `permanent` says whether trying the same request again can help.
    `outcome_unknown` (always permanent for this request) says a create may or
    may not have made a task: only the same create with the same idempotency
    key may be sent again. `nothing_created` says the gateway refused it before
    making (or charging) anything.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        type: str = "",
        code: str = "",
        param: str = "",
        fallback_suggestion: str = "",
        permanent: bool = False,
        outcome_unknown: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.fallback_suggestion = fallback_suggestion
        self.permanent = permanent or outcome_unknown
        self.outcome_unknown = outcome_unknown
        self.retry_after = retry_after

    @property
    def nothing_created(self) -> bool:
        return self.code in NO_CHARGE_CODES

    def __str__(self) -> str:
        label = " ".join(str(p) for p in (self.status, self.type, self.code) if p)
        return f"EvoLink {label}: {self.message}" if label else f"EvoLink: {self.message}"

    def __repr__(self) -> str:
        return (
            f"EvolinkError(status={self.status!r}, type={self.type!r}, code={self.code!r}, "
            f"permanent={self.permanent!r}, outcome_unknown={self.outcome_unknown!r}, "
            f"message={self.message!r})"
        )

    @property
    def user_message(self) -> str:
        """What a person should understand and do, in plain words (a transient error says it is retried)."""
        return self.describe(retrying=not self.permanent)

    def describe(self, *, retrying: bool) -> str:
        """The user message; `retrying=False` for a row given up on, which must not promise a retry."""
        if self.outcome_unknown:
            return (
                "The studio lost contact with the provider while submitting, so it cannot tell yet "
                "whether the video was started (and billed)."
            )
        if self.type == "key_unavailable":
            return self.message
        template = _USER_MESSAGES.get(self.status or 0)
        if template:
            text = template.format(message=self.message or "no details given")
            if self.param and self.status == 400:
                text += f" (field: {self.param})"
        elif self.status and self.status >= 500:
            text = "The provider had a problem on its side."
        elif self.status is None:
            text = "The studio could not reach the provider."
        else:
            text = f"The provider answered with an unexpected error ({self.status}): {self.message}"
        if retrying:
            text += " The studio will try again shortly."
        # Out of credits: our sentence already says what to do, and the provider's suggestion
        # says it again ("top it up, then try again. The provider suggests: Top up ...").
        if self.fallback_suggestion and self.status != 402:
            text += f" The provider suggests: {self.fallback_suggestion}"
        if self.nothing_created:
            text += " Nothing was charged."
        return text


# --- The client ------------------------------------------------------------------

# How long a gateway's "not here" answer to a read beyond the public page is
# believed: until then that read falls back at once; after, it is asked again
# (a gateway may gain it with an upgrade, or the answer was a proxy's mistake).
UNSUPPORTED_FOR = 600.0
# (gateway, endpoint) pairs that answered "not here", and until when (_clock) it is believed.
# A pair stays (expired) once logged, so the log says it once per process.
_UNSUPPORTED: dict[tuple[str, str], float] = {}
_clock = time.monotonic


def _read_task(data: Any) -> Task | None:
    if not isinstance(data, dict):
        return None
    try:
        task = Task.from_json(data)
    except ValueError:
        return None
    return task if task.id else None


def _as_json(data: Any) -> Any:
    return data


def _parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After in seconds, from either form HTTP allows (seconds or a date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        log.info("EvoLink sent a Retry-After we cannot read: %r", value[:60])
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


class EvolinkClient:
    """A small synchronous client; use as a context manager or call close()."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        connect_timeout: float = 10,
        read_timeout: float = 30,
        max_retries: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 30,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        allow_http_callbacks: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # Only for a studio tested locally against the demo provider: the real
        # provider refuses callback URLs that are not https.
        self.allow_http_callbacks = allow_http_callbacks
        self._api_key = api_key.strip()
        self.max_retries = max(0, max_retries)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.sleep = sleep
        self._timeout = httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
        )
        # The key is added per request, not as a default header.
        self._http = httpx.Client(
            timeout=self._timeout,
            transport=transport,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )

    def __repr__(self) -> str:
        return f"EvolinkClient(base_url={self.base_url!r})"

    def __enter__(self) -> EvolinkClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # Public API

    def create_task(
        self,
        *,
        prompt: str,
        duration: int | str = 10,
        aspect_ratio: str = "16:9",
        callback_url: str | None = None,
        idempotency_key: str = "",
    ) -> Task:
        """Start a generation. Raises EvolinkError; see the module docstring about retries.

        `idempotency_key` names the intended task: the same create sent again with
        the same key is answered with the task already made (`Task.replayed`).
        """
        body = create_body(
            prompt=self._check_prompt(prompt),
            duration=self._check_duration(duration),
            aspect_ratio=self._check_aspect_ratio(aspect_ratio),
            callback_url=self._check_callback_url(callback_url) if callback_url else None,
        )
        headers = (
            {"Idempotency-Key": idempotency_key, "X-Evo-Run-Id": idempotency_key} if idempotency_key else {}
        )
        task = self._request(
            "POST", "/v1/videos/generations", json_body=body, is_create=True, headers=headers
        )
        if task.replayed:
            log.info("EvoLink task %s: the gateway replayed the original answer for this key", task.id)
        else:
            log.info("EvoLink task %s created (%s)", task.id, task.status)
        return task

    def get_task(self, task_id: str) -> Task:
        if not task_id or not isinstance(task_id, str):
            raise EvolinkError(
                "a task id is required", status=None, type="invalid_request_error", permanent=True
            )
        return self._request("GET", f"/v1/tasks/{quote(task_id, safe='')}")

    def get_tasks(self, task_ids: list[str], *, one_by_one: bool = True) -> dict[str, Task]:
        """Several tasks by id (`POST /v1/tasks/batch`, 50 a call); unknown ids are absent.

        Where the gateway does not offer the batch read, each task is queried
        alone, or, with `one_by_one=False`, none is (the caller has its own way).
        """
        found: dict[str, Task] = {}
        wanted = list(dict.fromkeys(t for t in task_ids if t and isinstance(t, str)))
        for start in range(0, len(wanted), MAX_BATCH):
            chunk = wanted[start : start + MAX_BATCH]
            tasks = None if self._unsupported("batch") else self._batch(chunk)
            if tasks is None:
                if not one_by_one:
                    break
                tasks = self._one_by_one(chunk)
            found.update((task.id, task) for task in tasks if task.id in chunk)
        return found

    def list_tasks(
        self, *, model: str = MODEL, status: str = "", page: int = 1, page_size: int = MAX_PAGE_SIZE
    ) -> list[TaskSummary] | None:
        """The account's recent video tasks, newest first; None where the gateway has no list."""
        if self._unsupported("list"):
            return None
        params = {"type": "video", "model": model, "page": max(1, page)}
        params["page_size"] = max(1, min(MAX_PAGE_SIZE, page_size))
        if status:
            params["status"] = status
        items = self._data_list("list", "GET", "/v1/tasks?" + urlencode(params))
        if items is None:
            return None
        summaries = [TaskSummary.from_json(item) for item in items]
        return [summary for summary in summaries if summary is not None]

    def _data_list(self, name: str, method: str, path: str, **kwargs: Any) -> list | None:
        """The `data` list of an endpoint beyond the public page, or None (logged once) where it is missing."""
        try:
            data = self._request(method, path, parse=_as_json, **kwargs)
        except EvolinkError as exc:
            if not self._falls_back(exc):
                raise
            self._give_up_on(name, f"{exc.status or exc.type}")
            return None
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            self._give_up_on(name, "an answer without a data list")
            return None
        if _UNSUPPORTED.pop((self.base_url, name), None) is not None:
            log.info("EvoLink %s read answers at this gateway again", name)
        return items

    def _batch(self, task_ids: list[str]) -> list[Task] | None:
        items = self._data_list("batch", "POST", "/v1/tasks/batch", json_body={"task_ids": task_ids})
        if items is None:
            return None
        tasks = []
        for item in items:
            try:
                tasks.append(Task.from_json(item))
            except ValueError:
                log.info("EvoLink batch read: an item is not a task object; ignored")
        return tasks

    def _one_by_one(self, task_ids: list[str]) -> list[Task]:
        tasks = []
        for task_id in task_ids:
            try:
                tasks.append(self.get_task(task_id))
            except EvolinkError as exc:
                if exc.status != 404:
                    raise
        return tasks

    @staticmethod
    def _falls_back(exc: EvolinkError) -> bool:
        """An answer that says "no such endpoint here" rather than "something is wrong"."""
        return exc.status in NOT_OFFERED_STATUSES or exc.type == "malformed_response"

    def _unsupported(self, endpoint: str) -> bool:
        return _UNSUPPORTED.get((self.base_url, endpoint), 0.0) > _clock()

    def _give_up_on(self, endpoint: str, why: str) -> None:
        # Remembered per gateway for UNSUPPORTED_FOR: no wasted request per read meanwhile.
        told = (self.base_url, endpoint) in _UNSUPPORTED
        _UNSUPPORTED[(self.base_url, endpoint)] = _clock() + UNSUPPORTED_FOR
        if told:
            log.debug("EvoLink %s read still not available at this gateway (%s)", endpoint, why)
        else:
            log.warning(
                "EvoLink %s read not available at this gateway (%s); falling back for %d minutes at a time",
                endpoint,
                why,
                UNSUPPORTED_FOR // 60,
            )

    # Validation the contract allows us to do before sending anything

    @staticmethod
    def _invalid(message: str, param: str) -> EvolinkError:
        return EvolinkError(message, status=None, type="invalid_request_error", param=param, permanent=True)

    def _check_prompt(self, prompt: str) -> str:
        if not isinstance(prompt, str) or not prompt.strip():
            raise self._invalid("the prompt is empty", "prompt")
        return prompt

    def _check_duration(self, duration: int | str) -> int | str:
        # The studio stores durations as strings ("5"); the provider wants an integer.
        if isinstance(duration, str) and duration.strip().lower() == "auto":
            return "auto"
        if isinstance(duration, bool):
            raise self._invalid("duration must be 3 to 10 seconds or auto", "duration")
        try:
            seconds = int(duration)
        except (TypeError, ValueError):
            raise self._invalid("duration must be 3 to 10 seconds or auto", "duration") from None
        if seconds not in DURATIONS or (isinstance(duration, float) and duration != seconds):
            raise self._invalid("duration must be 3 to 10 seconds or auto", "duration")
        return seconds

    def _check_aspect_ratio(self, aspect_ratio: str) -> str:
        if aspect_ratio not in ASPECT_RATIOS:
            raise self._invalid("aspect_ratio must be 16:9, 9:16 or auto", "aspect_ratio")
        return aspect_ratio

    def _check_callback_url(self, url: str) -> str:
        parts = urlsplit(url)
        schemes = ("https", "http") if self.allow_http_callbacks else ("https",)
        if parts.scheme not in schemes or not parts.hostname:
            raise self._invalid("callback_url must be an https:// URL", "callback_url")
        if len(url) > MAX_CALLBACK_URL_LENGTH:
            raise self._invalid("callback_url is longer than 2048 characters", "callback_url")
        return url

    # Sending, with retries

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Full jitter exponential backoff; a Retry-After (capped) wins when given."""
        if retry_after is not None:
            return min(retry_after, self.backoff_max)
        return random.uniform(0, min(self.backoff_max, self.backoff_base * (2**attempt)))

    def _redact(self, text: str) -> str:
        if self._api_key and self._api_key in text:
            return text.replace(self._api_key, "[redacted]")
        return text

    def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: dict | None = None,
        is_create: bool = False,
        headers: dict[str, str] | None = None,
        parse: Callable[[Any], Any] | None = None,
    ) -> Any:
        """Send with retries; the answer as `parse` reads it (a Task unless told otherwise)."""
        if not self._api_key:
            raise EvolinkError(
                "no API key is configured", type="authentication_error", status=None, permanent=True
            )
        what = "create" if is_create else "query"
        attempt = 0
        while True:
            outcome = self._attempt(
                method, path, json_body=json_body, is_create=is_create, headers=headers or {}, parse=parse
            )
            if not isinstance(outcome, EvolinkError):
                return outcome
            error = outcome
            if error.permanent or attempt >= self.max_retries:
                if not error.permanent:
                    log.warning("EvoLink %s gave up after %d attempts: %s", what, attempt + 1, error)
                raise error
            delay = self._backoff(attempt, error.retry_after)
            log.info(
                "EvoLink %s failed (%s); retry %d/%d in %.2fs",
                what,
                error,
                attempt + 1,
                self.max_retries,
                delay,
            )
            self.sleep(delay)
            attempt += 1

    def _attempt(
        self,
        method: str,
        path: str,
        *,
        json_body: dict | None,
        is_create: bool,
        headers: dict[str, str],
        parse: Callable[[Any], Any] | None,
    ) -> Any:
        """One HTTP exchange: the answer read, or the error it came to (raised only by the caller)."""
        headers = {**headers, "Authorization": f"Bearer {self._api_key}"}
        try:
            response = self._http.request(method, self.base_url + path, json=json_body, headers=headers)
        except httpx.LocalProtocolError:
            # httpx refused to send it (e.g. a key with a line break): nothing left.
            return EvolinkError(
                "the request could not be sent; is the API key well formed?",
                type="authentication_error",
                permanent=True,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # Nothing was sent: safe to retry, even a create.
            return EvolinkError(
                f"could not connect ({type(exc).__name__})", status=None, type="connection_error"
            )
        except httpx.TransportError as exc:
            # The request went out (or may have): a read timeout, a dropped connection.
            kind = type(exc).__name__
            if is_create:
                return EvolinkError(
                    f"the connection failed after the create was sent ({kind}); the task may exist",
                    status=None,
                    type="connection_error",
                    outcome_unknown=True,
                )
            return EvolinkError(f"the connection failed ({kind})", status=None, type="connection_error")

        status = response.status_code
        try:
            data = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            data = None

        if 200 <= status < 300:
            answer = (parse or _read_task)(data)
            if answer is not None:
                if (
                    isinstance(answer, Task)
                    and response.headers.get("idempotency-replayed", "").lower() == "true"
                ):
                    answer = replace(answer, replayed=True)
                return answer
            if is_create:
                # A 2xx means the provider accepted the create: the task probably
                # exists, but we cannot learn its id.
                return EvolinkError(
                    f"the provider answered {status} to the create with a body we cannot read",
                    status=status,
                    type="malformed_response",
                    outcome_unknown=True,
                )
            return EvolinkError(
                f"the provider answered {status} with a body we cannot read",
                status=status,
                type="malformed_response",
            )

        error = self._error_from_response(response, data)
        if error.nothing_created:
            # Refused before dispatch (quota, key): no task, no charge, and the
            # same request will be refused again.
            error.permanent = True
            return error
        if is_create and status >= 500 and not error.code and not error.type:
            # Without the provider's own error body we cannot tell a proxy that
            # timed out waiting for a working create from a clean refusal.
            error.outcome_unknown = True
            error.permanent = True
            error.message = f"the provider answered {status} without an error body; the task may exist"
        return error

    def _error_from_response(self, response: httpx.Response, data: Any) -> EvolinkError:
        status = response.status_code
        body = data.get("error") if isinstance(data, dict) else None
        if not isinstance(body, dict):
            if data is not None or response.content:
                log.info("EvoLink %s answer without the documented error object", status)
            body = {}
        message = self._redact(_as_str(body.get("message")))[:1000] or response.reason_phrase or "no message"
        retry_after = _parse_retry_after(response.headers.get("retry-after"))
        if status in PERMANENT_STATUSES:
            permanent = True
        elif status in NOT_OFFERED_STATUSES:
            permanent = True  # "not here": the caller falls back (see _data_list)
        elif status == 429 or status >= 500:
            permanent = False
        else:
            # Not in the contract (a 405, a 409, a 3xx...): retrying will not help.
            log.warning("EvoLink answered an undocumented status %s", status)
            permanent = True
        return EvolinkError(
            message,
            status=status,
            type=self._redact(_as_str(body.get("type")))[:100],
            code=self._redact(_as_str(body.get("code")))[:100],
            param=self._redact(_as_str(body.get("param")))[:100],
            fallback_suggestion=self._redact(_as_str(body.get("fallback_suggestion")))[:500],
            permanent=permanent,
            retry_after=retry_after,
        )
