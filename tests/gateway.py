"""A fake EvoLink gateway for httpx.MockTransport: creates, queries, the ledger of idempotency keys.

For tests where the HTTP itself is not the point; the demo provider covers it over loopback.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import httpx

from studio.videos.evolink import MODEL

_ids = itertools.count(1)


@dataclass
class Seen:
    method: str
    path: str
    headers: httpx.Headers
    body: object
    query: dict[str, list[str]]


@dataclass
class FakeGateway:
    """Honours Idempotency-Key unless told not to; `faults` are taken one per create, in order.

    A fault is "drop_after_create" (the task is made, the answer lost), "drop" (lost before
    anything is made), or an (HTTP status, error code) pair answered without making anything.
    """

    honour_key: bool = True
    batch: bool = True
    listing: bool = True
    faults: list = field(default_factory=list)
    tasks: dict[str, dict] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # idempotency key -> task id
    seen: list[Seen] = field(default_factory=list)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def creates(self) -> list[Seen]:
        return [s for s in self.seen if s.path == "/v1/videos/generations"]

    def make_task(self, *, prompt: str = "", status: str = "pending", key: str = "") -> dict:
        task_id = f"task-unified-{int(time.time())}-{next(_ids):08d}"
        self.tasks[task_id] = {
            "id": task_id,
            "created": int(time.time()),
            "model": MODEL,
            "object": "video.generation.task",
            "progress": 0,
            "status": status,
            "task_info": {"can_cancel": False, "estimated_time": 1},
            "type": "video",
            "usage": {"billing_rule": "per_token", "credits_reserved": 10.0},
        }
        if key:
            self.keys[key] = task_id
        return self.tasks[task_id]

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        path = request.url.path
        self.seen.append(
            Seen(request.method, path, request.headers, body, parse_qs(request.url.query.decode()))
        )
        if path == "/v1/videos/generations" and request.method == "POST":
            return self._create(request, body)
        if path == "/v1/tasks/batch" and request.method == "POST":
            if not self.batch:
                return self._error(404, "not_found_error", "no such route")
            found = [self.tasks[i] for i in body.get("task_ids", []) if i in self.tasks]
            return httpx.Response(200, json={"data": found})
        if path == "/v1/tasks" and request.method == "GET":
            if not self.listing:
                return self._error(405, "invalid_request_error", "method not allowed")
            items = [
                {
                    "id": t["id"],
                    "status": t["status"],
                    "model": t["model"],
                    "type": "video",
                    "progress": t["progress"],
                    "created_at": t["created"],
                    "has_results": False,
                    "has_error": False,
                    "credits_used": 0,
                }
                for t in reversed(self.tasks.values())
            ]
            return httpx.Response(200, json={"data": items, "total": len(items), "page": 1, "page_size": 50})
        if path.startswith("/v1/tasks/") and request.method == "GET":
            task = self.tasks.get(path.removeprefix("/v1/tasks/"))
            if task is None:
                return self._error(404, "not_found_error", "task not found")
            return httpx.Response(200, json=task)
        return self._error(404, "not_found_error", "no such route")

    def _create(self, request: httpx.Request, body: dict) -> httpx.Response:
        key = request.headers.get("idempotency-key", "")
        if self.honour_key and key in self.keys:
            return httpx.Response(
                200, json=self.tasks[self.keys[key]], headers={"Idempotency-Replayed": "true"}
            )
        fault = self.faults.pop(0) if self.faults else None
        if fault == "drop":
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        if isinstance(fault, tuple):
            status, code = fault
            return self._error(status, "error", f"refused ({code})", code=code)
        task = self.make_task(prompt=body["prompt"], key=key if self.honour_key else "")
        if fault == "drop_after_create":
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        return httpx.Response(200, json=task)

    @staticmethod
    def _error(status: int, type_: str, message: str, code: str = "") -> httpx.Response:
        return httpx.Response(
            status, json={"error": {"code": code or type_, "message": message, "type": type_}}
        )
