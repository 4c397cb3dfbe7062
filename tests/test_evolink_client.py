"""The EvoLink client against the demo provider, over real HTTP on loopback."""

from __future__ import annotations

import logging
import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from studio.lib.safehttp import UrlGuard
from studio.videos import evolink, prompting, storage
from studio.videos.evolink import (
    MODEL,
    EvolinkClient,
    EvolinkError,
    Task,
    _parse_retry_after,
)
from tests.gateway import FakeGateway

KEY = "sk-live-TOPSECRET-9f8e7d6c5b4a"
PROMPT = "A paper boat drifts down a rain gutter, macro lens, slow tracking shot. No dialogue."


class Sleeps(list):
    """An injected sleep that records the delays instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_client(demo_provider, sleeps):
    clients = []

    def make(key: str = KEY, **options) -> EvolinkClient:
        options = {"read_timeout": 5, "connect_timeout": 2, "max_retries": 3, "sleep": sleeps, **options}
        client = EvolinkClient(options.pop("base_url", demo_provider.base_url), key, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def wait_until_finished(client: EvolinkClient, task_id: str, timeout: float = 15) -> Task:
    deadline = time.monotonic() + timeout
    while True:
        task = client.get_task(task_id)
        if task.is_finished or time.monotonic() > deadline:
            return task
        time.sleep(0.1)


def creates(server) -> int:
    return sum(1 for method, path in server.requests_seen if path == "/v1/videos/generations")


# --- Success ---------------------------------------------------------------------


def test_it_creates_and_queries_a_task_with_typed_fields(make_client, demo_provider):
    client = make_client()
    task = client.create_task(prompt=PROMPT, duration=3, aspect_ratio="16:9")

    assert task.id.startswith("task-unified-")
    assert task.status == "pending"
    assert task.progress == 0
    assert task.model == MODEL
    assert task.object == "video.generation.task"
    assert task.type == "video"
    assert isinstance(task.created, int)
    assert task.task_info.can_cancel is False
    assert isinstance(task.task_info.estimated_time, int)
    assert task.usage["billing_rule"] == "per_token"
    assert task.usage["credits_reserved"] > 0
    assert task.results == [] and task.error is None
    assert task.raw["id"] == task.id

    done = wait_until_finished(client, task.id)
    assert done.status == "completed"
    assert done.progress == 100
    assert len(done.results) == 1 and done.result_url.startswith(demo_provider.base_url + "/files/")
    assert done.task_info.video_duration == 3
    assert done.usage["total_tokens"] > 0
    assert list(demo_provider.server.tasks) == [task.id]


def test_a_result_is_downloaded_without_the_key(make_client, demo_provider, tmp_path):
    client = make_client()
    done = wait_until_finished(client, client.create_task(prompt=PROMPT, duration=3).id)

    path = tmp_path / "result.mp4"
    storage.fetch(done.result_url, path, guard=UrlGuard(allow_private=True), max_bytes=50_000_000)

    assert path.read_bytes()[4:8] == b"ftyp"
    assert demo_provider.server.file_requests_with_auth == 0


def test_a_failed_task_carries_its_error(make_client, demo_provider):
    demo_provider.server.queue_fault("fail:content_policy_violation", on="create")
    client = make_client()

    done = wait_until_finished(client, client.create_task(prompt=PROMPT, duration=3).id)

    assert done.status == "failed"
    assert done.error is not None
    assert done.error.code == "content_policy_violation"
    assert done.error.message
    assert done.results == []


def test_it_sends_a_stored_duration_string_as_an_integer(make_client, demo_provider):
    task = make_client().create_task(prompt=PROMPT, duration="4", aspect_ratio="9:16")
    assert demo_provider.server.tasks[task.id].duration == 4


def test_it_accepts_auto_duration_and_aspect(make_client, demo_provider):
    task = make_client().create_task(prompt=PROMPT, duration="auto", aspect_ratio="auto")
    stored = demo_provider.server.tasks[task.id]
    assert (stored.duration, stored.aspect_ratio) == ("auto", "auto")


def test_it_keeps_fields_the_contract_does_not_document(make_client, demo_provider, caplog):
    demo_provider.server.extra_task_fields = {"region": "us-east", "seed": 42}
    caplog.set_level(logging.INFO, logger="studio.videos.evolink")

    task = make_client().create_task(prompt=PROMPT, duration=3)

    assert task.extra == {"region": "us-east", "seed": 42}
    assert task.raw["region"] == "us-east"


# --- Local validation: nothing is sent -----------------------------------------------


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"duration": 2}, "duration"),
        ({"duration": 11}, "duration"),
        ({"duration": "ten"}, "duration"),
        ({"duration": True}, "duration"),
        ({"duration": 4.5}, "duration"),
        ({"aspect_ratio": "4:3"}, "aspect_ratio"),
        ({"callback_url": "http://studio.example.org/cb"}, "callback_url"),
        ({"callback_url": "https://studio.example.org/" + "x" * 2048}, "callback_url"),
        ({"prompt": "   "}, "prompt"),
    ],
)
def test_it_refuses_what_the_contract_forbids_before_sending(make_client, demo_provider, options, param):
    options = {"prompt": PROMPT, **options}
    with pytest.raises(EvolinkError) as caught:
        make_client().create_task(**options)
    assert caught.value.permanent
    assert caught.value.param == param
    assert caught.value.type == "invalid_request_error"
    assert demo_provider.server.requests_seen == []


# --- Errors: permanent or transient ----------------------------------------------------


def test_a_revoked_key_is_permanent_and_tells_who_can_fix_it(make_client, sleeps):
    with pytest.raises(EvolinkError) as caught:
        make_client("sk-revoked").get_task("task-unified-1-abcdefgh")
    error = caught.value
    assert (error.status, error.type, error.permanent) == (401, "authentication_error", True)
    assert "owner or admin can replace it in team settings" in error.user_message
    assert sleeps == []


def test_an_empty_key_is_refused_without_a_request(make_client, demo_provider):
    with pytest.raises(EvolinkError) as caught:
        make_client("").get_task("task-unified-1-abcdefgh")
    assert caught.value.permanent and caught.value.type == "authentication_error"
    assert demo_provider.server.requests_seen == []


def test_an_account_without_credits_is_permanent(make_client, demo_provider, sleeps):
    with pytest.raises(EvolinkError) as caught:
        make_client("sk-broke").create_task(prompt=PROMPT, duration=3)
    assert (caught.value.status, caught.value.type, caught.value.permanent) == (
        402,
        "insufficient_quota_error",
        True,
    )
    assert "credits" in caught.value.user_message
    assert caught.value.fallback_suggestion
    assert demo_provider.server.tasks == {} and sleeps == []


def test_an_unknown_task_is_permanent_not_found(make_client, sleeps):
    with pytest.raises(EvolinkError) as caught:
        make_client().get_task("task-unified-1-nosuchid")
    assert (caught.value.status, caught.value.type, caught.value.permanent) == (404, "not_found_error", True)
    assert "lost" in caught.value.user_message
    assert sleeps == []


def test_a_too_long_prompt_is_permanent(make_client, demo_provider):
    with pytest.raises(EvolinkError) as caught:
        make_client().create_task(prompt="word " * 2000, duration=3)
    assert (caught.value.status, caught.value.type, caught.value.permanent) == (
        413,
        "request_too_large_error",
        True,
    )
    assert "too long" in caught.value.user_message
    assert demo_provider.server.tasks == {}


def test_the_providers_own_400_names_the_field(make_client, demo_provider):
    client = make_client()
    body = {"model": MODEL, "prompt": PROMPT, "duration": "5"}  # a string: the provider wants an integer
    with pytest.raises(EvolinkError) as caught:
        client._request("POST", "/v1/videos/generations", json_body=body, is_create=True)
    assert (caught.value.status, caught.value.type, caught.value.param) == (
        400,
        "invalid_request_error",
        "duration",
    )
    assert caught.value.permanent and "(field: duration)" in caught.value.user_message


@pytest.mark.parametrize(
    ("fault", "status", "error_type"),
    [
        ("400", 400, "invalid_request_error"),
        ("401", 401, "authentication_error"),
        ("402", 402, "insufficient_quota_error"),
        ("403", 403, "permission_error"),
        ("404", 404, "not_found_error"),
        ("413", 413, "request_too_large_error"),
    ],
)
def test_every_documented_permanent_status_is_not_retried(
    make_client, demo_provider, sleeps, fault, status, error_type
):
    demo_provider.server.queue_fault(fault, count=5, on="query")
    with pytest.raises(EvolinkError) as caught:
        make_client().get_task("task-unified-1-abcdefgh")
    assert (caught.value.status, caught.value.type, caught.value.permanent) == (status, error_type, True)
    assert not caught.value.outcome_unknown
    assert sleeps == []
    assert len(demo_provider.server.requests_seen) == 1


@pytest.mark.parametrize(
    ("fault", "status", "error_type"),
    [
        ("429", 429, "rate_limit_error"),
        ("500", 500, "internal_error"),
        ("502", 502, "upstream_error"),
        ("503", 503, "service_unavailable"),
    ],
)
def test_every_documented_transient_status_is_retried_then_given_up(
    make_client, demo_provider, sleeps, fault, status, error_type
):
    demo_provider.server.queue_fault(fault, count=10, on="query")
    with pytest.raises(EvolinkError) as caught:
        make_client(max_retries=3).get_task("task-unified-1-abcdefgh")
    assert (caught.value.status, caught.value.type, caught.value.permanent) == (status, error_type, False)
    assert len(sleeps) == 3
    assert len(demo_provider.server.requests_seen) == 4


def test_a_query_recovers_after_transient_failures(make_client, demo_provider, sleeps):
    client = make_client()
    task = client.create_task(prompt=PROMPT, duration=3)
    demo_provider.server.queue_fault("503", count=2, on="query")

    assert client.get_task(task.id).id == task.id
    assert len(sleeps) == 2


def test_backoff_is_exponential_with_full_jitter_and_capped(make_client, demo_provider, sleeps):
    demo_provider.server.queue_fault("500", count=20, on="query")
    with pytest.raises(EvolinkError):
        make_client(max_retries=6, backoff_base=0.5, backoff_max=4).get_task("task-unified-1-abcdefgh")
    assert len(sleeps) == 6
    for attempt, delay in enumerate(sleeps):
        assert 0 <= delay <= min(4, 0.5 * 2**attempt)


def test_retry_after_is_honoured(make_client, demo_provider, sleeps):
    demo_provider.server.queue_fault("429:7", count=1, on="query")
    with pytest.raises(EvolinkError) as caught:
        make_client().get_task("task-unified-1-abcdefgh")  # then 404: the retry happened
    assert caught.value.status == 404
    assert sleeps == [7]


def test_retry_after_is_capped(make_client, demo_provider, sleeps):
    demo_provider.server.queue_fault("429:3600", count=10, on="query")
    with pytest.raises(EvolinkError) as caught:
        make_client(max_retries=2, backoff_max=5).get_task("task-unified-1-abcdefgh")
    assert sleeps == [5, 5]
    assert caught.value.retry_after == 3600  # kept for the caller's own scheduling


def test_retry_after_reads_http_dates():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert _parse_retry_after(later, now=now.timestamp()) == pytest.approx(30)
    assert _parse_retry_after("2.5") == 2.5
    assert _parse_retry_after("soon") is None
    assert _parse_retry_after(None) is None


def test_malformed_json_on_a_query_is_transient(make_client, demo_provider, sleeps):
    client = make_client()
    task = client.create_task(prompt=PROMPT, duration=3)
    demo_provider.server.queue_fault("malformed", count=1, on="query")

    assert client.get_task(task.id).id == task.id
    assert len(sleeps) == 1


def test_a_dropped_connection_on_a_query_is_retried(make_client, demo_provider, sleeps):
    client = make_client()
    task = client.create_task(prompt=PROMPT, duration=3)
    demo_provider.server.queue_fault("drop", count=2, on="query")

    assert client.get_task(task.id).id == task.id
    assert len(sleeps) == 2


def test_a_slow_query_times_out_and_is_retried(make_client, demo_provider, sleeps):
    client = make_client(read_timeout=0.3)
    task = client.create_task(prompt=PROMPT, duration=3)
    demo_provider.server.queue_fault("slow:1", count=1, on="query")

    assert client.get_task(task.id).id == task.id
    assert len(sleeps) == 1


def test_a_refused_connection_is_retried_then_transient(make_client, sleeps):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    client = make_client(base_url=f"http://127.0.0.1:{port}", max_retries=2)

    with pytest.raises(EvolinkError) as caught:
        client.create_task(prompt=PROMPT, duration=3)
    assert caught.value.status is None and not caught.value.permanent
    assert not caught.value.outcome_unknown
    assert len(sleeps) == 2  # a create that never left may be retried


# --- Creates that may have reached the provider are never retried ---------------------


def test_a_create_after_a_rate_limit_is_retried_and_makes_one_task(make_client, demo_provider, sleeps):
    demo_provider.server.queue_fault("429:1", count=1, on="create")
    task = make_client().create_task(prompt=PROMPT, duration=3)
    assert list(demo_provider.server.tasks) == [task.id]
    assert sleeps == [1]


def test_a_create_after_a_clean_5xx_error_is_retried_and_makes_one_task(make_client, demo_provider, sleeps):
    demo_provider.server.queue_fault("503", count=2, on="create")
    task = make_client().create_task(prompt=PROMPT, duration=3)
    assert list(demo_provider.server.tasks) == [task.id]
    assert len(sleeps) == 2


def test_a_create_whose_connection_drops_after_creating_has_an_unknown_outcome(
    make_client, demo_provider, sleeps
):
    demo_provider.server.queue_fault("drop_after_create", count=5, on="create")
    with pytest.raises(EvolinkError) as caught:
        make_client().create_task(prompt=PROMPT, duration=3)
    assert caught.value.outcome_unknown and caught.value.permanent
    assert "cannot tell yet" in caught.value.user_message
    assert len(demo_provider.server.tasks) == 1
    assert creates(demo_provider.server) == 1
    assert sleeps == []


def test_a_create_that_times_out_reading_has_an_unknown_outcome(make_client, demo_provider, sleeps):
    demo_provider.server.queue_fault("slow:1.5", count=5, on="create")
    with pytest.raises(EvolinkError) as caught:
        make_client(read_timeout=0.3).create_task(prompt=PROMPT, duration=3)
    assert caught.value.outcome_unknown and caught.value.permanent
    assert len(demo_provider.server.tasks) == 1
    assert creates(demo_provider.server) == 1
    assert sleeps == []


def test_a_create_dropped_unanswered_is_not_retried(make_client, demo_provider, sleeps):
    demo_provider.server.queue_fault("drop", count=5, on="create")
    with pytest.raises(EvolinkError) as caught:
        make_client().create_task(prompt=PROMPT, duration=3)
    assert caught.value.outcome_unknown
    assert creates(demo_provider.server) == 1
    assert sleeps == []


def test_a_create_answered_5xx_without_a_body_has_an_unknown_outcome(make_client, demo_provider, sleeps):
    demo_provider.server.queue_fault("502:empty", count=5, on="create")
    with pytest.raises(EvolinkError) as caught:
        make_client().create_task(prompt=PROMPT, duration=3)
    assert caught.value.outcome_unknown and caught.value.status == 502
    assert creates(demo_provider.server) == 1
    assert sleeps == []


def test_a_create_answered_with_malformed_json_has_an_unknown_outcome(make_client, demo_provider, sleeps):
    demo_provider.server.queue_fault("malformed", count=5, on="create")
    with pytest.raises(EvolinkError) as caught:
        make_client().create_task(prompt=PROMPT, duration=3)
    assert caught.value.outcome_unknown
    assert len(demo_provider.server.tasks) == 1
    assert sleeps == []


# --- Result links expire -------------------------------------------------------------------


def test_an_expired_result_link_is_told_apart_from_a_failure(make_client, demo_provider, tmp_path):
    demo_provider.server.queue_fault("expired", on="create")
    client = make_client()
    done = wait_until_finished(client, client.create_task(prompt=PROMPT, duration=3).id)
    assert done.status == "completed"

    with pytest.raises(storage.ResultGone) as caught:
        storage.fetch(
            done.result_url, tmp_path / "r.mp4", guard=UrlGuard(allow_private=True), max_bytes=10**8
        )
    assert caught.value.status == 410


def test_a_result_link_expires_after_its_lifetime(make_client, demo_provider, tmp_path):
    client = make_client()
    done = wait_until_finished(client, client.create_task(prompt=PROMPT, duration=3).id)
    demo_provider.server.result_ttl = 0  # as if 24 hours had passed

    with pytest.raises(storage.ResultGone):
        storage.fetch(
            done.result_url, tmp_path / "r.mp4", guard=UrlGuard(allow_private=True), max_bytes=10**8
        )


# --- Tolerant parsing ------------------------------------------------------------------------


def test_task_from_json_tolerates_odd_and_missing_fields(caplog):
    caplog.set_level(logging.INFO, logger="studio.videos.evolink")
    task = Task.from_json(
        {
            "id": "task-unified-1-abcdefgh",
            "status": "failed",
            "progress": "150",
            "created": "not a time",
            "results": "https://cdn.example.org/a.mp4",
            "error": {"code": 1234, "message": "Blocked", "type": "content_policy_error"},
            "task_info": "soon",
            "usage": None,
            "brand_new_field": [1, 2],
        }
    )
    assert task.progress == 100
    assert task.created is None
    assert task.results == ["https://cdn.example.org/a.mp4"]
    assert task.error is not None and task.error.code == "1234"
    assert task.task_info.estimated_time is None
    assert task.usage == {}
    assert task.extra == {"brand_new_field": [1, 2]}
    assert "brand_new_field" in caplog.text

    minimal = Task.from_json({"id": "task-unified-2-abcdefgh", "status": "pending"})
    assert (minimal.progress, minimal.results, minimal.error, minimal.usage) == (0, [], None, {})
    with pytest.raises(ValueError):
        Task.from_json(["not", "an", "object"])


def test_unknown_fields_are_logged_once(caplog):
    caplog.set_level(logging.INFO, logger="studio.videos.evolink")
    for _ in range(3):
        Task.from_json({"id": "task-unified-3-abcdefgh", "status": "pending", "once_only_field": 1})
    assert caplog.text.count("once_only_field") == 1


# --- The key never leaks -------------------------------------------------------------------


FAULTS = [
    ("429", "query"),
    ("500", "query"),
    ("503:empty", "create"),
    ("401", "query"),
    ("402", "create"),
    ("404", "query"),
    ("malformed", "query"),
    ("malformed", "create"),
    ("drop", "query"),
    ("drop_after_create", "create"),
    ("slow:1", "create"),
]


@pytest.mark.parametrize(("fault", "on"), FAULTS)
def test_the_key_never_appears_in_logs_or_errors(make_client, demo_provider, caplog, fault, on):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "studio"):
        caplog.set_level(logging.DEBUG, logger=name)
    demo_provider.server.queue_fault(fault, count=10, on=on)
    client = make_client(read_timeout=0.3, max_retries=1)

    with pytest.raises(EvolinkError) as caught:
        if on == "create":
            client.create_task(prompt=PROMPT, duration=3)
        else:
            client.get_task("task-unified-1-abcdefgh")

    error = caught.value
    for text in (str(error), repr(error), error.user_message, caplog.text, repr(client), str(vars(error))):
        assert KEY not in text
    assert caplog.records  # something was logged, and it was checked


def test_a_key_echoed_by_the_provider_is_redacted():
    def echo(request: httpx.Request) -> httpx.Response:
        key = request.headers["authorization"].removeprefix("Bearer ")
        body = {
            "error": {
                "code": "invalid_api_key",
                "message": f"Key {key} is invalid",
                "type": "authentication_error",
            }
        }
        return httpx.Response(401, json=body)

    client = EvolinkClient("https://api.example.org", KEY, transport=httpx.MockTransport(echo))
    with client, pytest.raises(EvolinkError) as caught:
        client.get_task("task-unified-1-abcdefgh")
    assert KEY not in str(caught.value) and "[redacted]" in caught.value.message


# --- Idempotency keys, batch and list reads (httpx.MockTransport: the HTTP is not the point) ---


@pytest.fixture
def gateway(monkeypatch) -> FakeGateway:
    # Which gateways lack the batch or list read is remembered per process: start afresh.
    monkeypatch.setattr(evolink, "_UNSUPPORTED", {})
    return FakeGateway()


@pytest.fixture
def mock_client(gateway, sleeps):
    with EvolinkClient("https://api.example.org", KEY, transport=gateway.transport, sleep=sleeps) as client:
        yield client


def oddly_answering(monkeypatch, gateway: FakeGateway, path: str, body: object) -> None:
    """The gateway answers `path` with 200 and an undocumented shape (the request is still recorded)."""
    real = gateway.handle

    def handle(request: httpx.Request) -> httpx.Response:
        answer = real(request)
        return httpx.Response(200, json=body) if request.url.path == path else answer

    monkeypatch.setattr(gateway, "handle", handle)


def test_a_create_carries_its_idempotency_key_twice(mock_client, gateway):
    mock_client.create_task(prompt=PROMPT, duration=3, idempotency_key="4f0c-key")
    sent = gateway.creates()[0].headers
    assert sent["idempotency-key"] == sent["x-evo-run-id"] == "4f0c-key"


def test_a_create_without_a_key_sends_no_key_header(mock_client, gateway):
    mock_client.create_task(prompt=PROMPT, duration=3)
    assert "idempotency-key" not in gateway.creates()[0].headers


def test_a_create_sent_again_with_its_key_gets_the_original_task(mock_client, gateway, caplog):
    caplog.set_level(logging.INFO, logger="studio.videos.evolink")
    gateway.faults = ["drop_after_create"]
    with pytest.raises(EvolinkError) as caught:
        mock_client.create_task(prompt=PROMPT, duration=3, idempotency_key="same-key")
    assert caught.value.outcome_unknown and not caught.value.nothing_created

    task = mock_client.create_task(prompt=PROMPT, duration=3, idempotency_key="same-key")

    assert task.replayed and list(gateway.tasks) == [task.id]
    assert "replayed" in caplog.text
    first, second = gateway.creates()
    assert first.body == second.body and first.headers["idempotency-key"] == second.headers["idempotency-key"]


def test_a_retried_create_keeps_its_key(mock_client, gateway, sleeps):
    gateway.faults = [(503, "")]
    task = mock_client.create_task(prompt=PROMPT, duration=3, idempotency_key="k-1")
    assert not task.replayed and len(sleeps) == 1
    assert [s.headers["idempotency-key"] for s in gateway.creates()] == ["k-1", "k-1"]


@pytest.mark.parametrize(
    ("status", "code"),
    [(402, "insufficient_quota"), (429, "key_daily_quota_exhausted"), (500, "quota_not_enough")],
)
def test_a_create_rejected_before_any_charge_created_nothing(mock_client, gateway, sleeps, status, code):
    gateway.faults = [(status, code)]
    with pytest.raises(EvolinkError) as caught:
        mock_client.create_task(prompt=PROMPT, duration=3, idempotency_key="k-2")
    error = caught.value
    assert error.nothing_created and error.permanent and not error.outcome_unknown
    assert "Nothing was charged" in error.user_message
    assert sleeps == [] and gateway.tasks == {}


def test_the_preview_and_the_client_build_the_same_body(mock_client, gateway):
    draft = prompting.Draft(prompt="A fox at dawn", duration="4", aspect_ratio="9:16")

    mock_client.create_task(prompt=draft.compiled, duration=draft.duration, aspect_ratio=draft.aspect_ratio)

    assert gateway.creates()[0].body == prompting.request_body(draft)
    assert gateway.creates()[0].body["model"] == MODEL


def test_several_tasks_are_read_fifty_at_a_time(mock_client, gateway):
    made = [gateway.make_task()["id"] for _ in range(60)]
    wanted = [*made, made[0], "task-unified-1-nosuchid"]

    found = mock_client.get_tasks(wanted)

    assert set(found) == set(made)
    batches = [s.body["task_ids"] for s in gateway.seen if s.path == "/v1/tasks/batch"]
    assert [len(b) for b in batches] == [50, 11]


@pytest.mark.parametrize("gateway_kind", ["missing", "odd_shape"])
def test_the_batch_read_falls_back_to_one_query_per_task_and_says_so_once(
    mock_client, gateway, caplog, monkeypatch, gateway_kind
):
    caplog.set_level(logging.INFO, logger="studio.videos.evolink")
    if gateway_kind == "missing":
        gateway.batch = False
    else:
        oddly_answering(monkeypatch, gateway, "/v1/tasks/batch", ["odd"])
    client = EvolinkClient("https://api.example.org", KEY, transport=httpx.MockTransport(gateway.handle))
    ids = [gateway.make_task()["id"] for _ in range(3)]

    assert set(client.get_tasks(ids)) == set(ids)
    assert set(client.get_tasks([*ids, "task-unified-1-nosuchid"])) == set(ids)

    assert sum(1 for s in gateway.seen if s.path == "/v1/tasks/batch") == 1  # not asked again
    assert sum(1 for s in gateway.seen if s.path.startswith("/v1/tasks/task-")) == 7
    assert caplog.text.count("batch read not available") == 1


def test_a_batch_read_with_a_bad_key_is_an_error_not_a_fallback(gateway):
    client = EvolinkClient(
        "https://api.example.org",
        KEY,
        transport=httpx.MockTransport(lambda r: FakeGateway._error(401, "authentication_error", "bad key")),
    )
    with client, pytest.raises(EvolinkError) as caught:
        client.get_tasks(["task-unified-1-abcdefgh"])
    assert caught.value.status == 401


def test_recent_tasks_are_listed_newest_first(mock_client, gateway):
    older, newer = gateway.make_task()["id"], gateway.make_task()["id"]

    listed = mock_client.list_tasks(page_size=500)

    assert [t.id for t in listed] == [newer, older]
    assert listed[0].model == MODEL and listed[0].has_results is False
    query = next(s.query for s in gateway.seen if s.path == "/v1/tasks")
    assert query == {"type": ["video"], "model": [MODEL], "page": ["1"], "page_size": ["50"]}


@pytest.mark.parametrize("gateway_kind", ["missing", "odd_shape"])
def test_a_gateway_without_the_list_read_answers_none_and_says_so_once(
    mock_client, gateway, caplog, monkeypatch, gateway_kind
):
    caplog.set_level(logging.INFO, logger="studio.videos.evolink")
    if gateway_kind == "missing":
        gateway.listing = False
    else:
        oddly_answering(monkeypatch, gateway, "/v1/tasks", {"items": []})
    client = EvolinkClient("https://api.example.org", KEY, transport=httpx.MockTransport(gateway.handle))

    assert client.list_tasks() is None
    assert client.list_tasks() is None
    assert sum(1 for s in gateway.seen if s.path == "/v1/tasks") == 1
    assert caplog.text.count("list read not available") == 1
