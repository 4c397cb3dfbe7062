"""The contract's data: what a create may carry, what a task costs, how a task object reads."""

from __future__ import annotations

import contextlib
import ipaddress
import math
import secrets
import string
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .render import pick_duration

MODEL = "gemini-omni-flash-text-to-video"
TOKENS_PER_SECOND = 5792
CREDITS_PER_1K_TOKENS = 1.01
MAX_PROMPT_CHARS = 5000
MAX_CALLBACK_URL_LENGTH = 2048
DEFAULT_DURATION = 10
DEFAULT_ASPECT_RATIO = "16:9"
STATUSES = ("pending", "processing", "completed", "failed")
IN_FLIGHT = ("pending", "processing")
FAILURE_MESSAGES = {
    "content_policy_violation": "The prompt or the generated video was blocked by the content policy.",
    "generation_timeout": "The generation took too long and was stopped.",
}


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
    render: str = "full"
    idempotency_key: str = ""
    # Which API key made it, as a digest: the balance per key needs it, a key does not.
    key_digest: str = ""
    downloads: int = 0  # complete GETs of its result file
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def output_tokens(self) -> int:
        return TOKENS_PER_SECOND * pick_duration(self.prompt, self.duration)

    @property
    def prompt_tokens(self) -> int:
        return max(1, len(self.prompt) // 4)

    @property
    def credits_reserved(self) -> float:
        return round((self.output_tokens + self.prompt_tokens) / 1000 * CREDITS_PER_1K_TOKENS, 2)

    @property
    def credits_used(self) -> float:
        """Charged once completed; a failed task's reservation is returned."""
        return self.credits_reserved if self.status == "completed" else 0.0

    def to_json(self, base_url: str, now: float) -> dict:
        credits_reserved = self.credits_reserved
        data: dict[str, Any] = {
            "created": int(self.created),
            "id": self.id,
            "model": MODEL,
            "object": "video.generation.task",
            "progress": self.progress(now),
            "status": self.status,
            "task_info": {"can_cancel": False, "estimated_time": max(1, math.ceil(self.generation_seconds))},
            "type": "video",
            "usage": {
                "billing_rule": "per_token",
                "credits_reserved": credits_reserved,
                "user_group": "default",
            },
        }
        if self.status == "completed":
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
            data["error"] = {
                "code": self.fail_code,
                "message": FAILURE_MESSAGES.get(self.fail_code, f"The generation failed ({self.fail_code})."),
                "type": "generation_error",
            }
            data["usage"].update({"credits_used": 0, "total_tokens": 0})
        return data

    def to_list_item(self, now: float) -> dict:
        """The short form of the account's task list: no result links, no prompt."""
        return {
            "id": self.id,
            "status": self.status,
            "model": MODEL,
            "type": "video",
            "progress": self.progress(now),
            "created_at": int(self.created),
            "has_results": self.status == "completed",
            "has_error": self.status == "failed",
            "credits_used": self.credits_used,
        }

    def progress(self, now: float) -> int:
        if self.status in IN_FLIGHT:
            elapsed = now - self.created
            fraction = elapsed / self.generation_seconds if self.generation_seconds > 0 else 1
            # Never 100 until the file is really there.
            return max(0, min(99, int(fraction * 100)))
        return 100


def new_task_id(now: float) -> str:
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


def create_problem(body: Any, *, allow_insecure_callbacks: bool) -> tuple[int, str, str] | None:
    """(status, message, param) when a create body breaks the contract, else None."""
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
        problem = callback_url_problem(body["callback_url"], allow_insecure=allow_insecure_callbacks)
        if problem:
            return 400, problem + ".", "callback_url"
    return None
