"""The demo provider keeps the EvoLink contract, makes real videos and calls back."""

from __future__ import annotations

import argparse
import ast
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import httpx
import pytest

from studio.demoprovider import MODEL, cli, pick_duration, pick_size, start_in_thread

AUTH = {"Authorization": "Bearer sk-demo-test-1234"}
PROMPT = "A lighthouse on a cliff at night, waves crashing, slow dolly in. No dialogue."
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def http(demo_provider):
    with httpx.Client(base_url=demo_provider.base_url, timeout=10) as client:
        yield client


def body(**fields) -> dict:
    return {"model": MODEL, "prompt": PROMPT, "duration": 3, **fields}


def create(http, **fields) -> dict:
    response = http.post("/v1/videos/generations", json=body(**fields), headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def wait_finished(http, task_id: str, timeout: float = 15) -> list[dict]:
    """Every task object seen while polling, the finished one last."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = http.get(f"/v1/tasks/{task_id}", headers=AUTH).json()
        seen.append(task)
        if task["status"] in ("completed", "failed"):
            return seen
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not finish: {seen[-1]}")


def wait_for(condition, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def download(http, url: str, tmp_path: Path) -> Path:
    response = http.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    assert int(response.headers["content-length"]) == len(response.content)
    path = tmp_path / "result.mp4"
    path.write_bytes(response.content)
    return path


# --- Create and query --------------------------------------------------------------


def test_create_answers_a_pending_task_in_the_documented_shape(http):
    task = create(http, aspect_ratio="16:9")

    assert re.fullmatch(r"task-unified-\d{10}-[a-z0-9]{8}", task["id"])
    assert abs(task["created"] - time.time()) < 5
    assert task["model"] == MODEL
    assert task["object"] == "video.generation.task"
    assert (task["status"], task["progress"], task["type"]) == ("pending", 0, "video")
    assert task["task_info"]["can_cancel"] is False
    assert task["task_info"]["estimated_time"] >= 1
    assert task["usage"]["billing_rule"] == "per_token"
    assert task["usage"]["credits_reserved"] > 0
    assert "results" not in task and "error" not in task


def test_a_task_moves_from_pending_to_completed_with_rising_progress(http, demo_provider):
    demo_provider.server.generation_seconds = 1.5
    task = create(http)

    seen = wait_finished(http, task["id"])

    statuses = [t["status"] for t in seen]
    assert "processing" in statuses and statuses[-1] == "completed"
    progress = [t["progress"] for t in seen]
    assert progress == sorted(progress) and progress[-1] == 100
    assert all(p < 100 for t, p in zip(seen, progress, strict=True) if t["status"] != "completed")
    done = seen[-1]
    assert done["results"][0].startswith(demo_provider.base_url + "/files/")
    assert done["task_info"]["video_duration"] == 3
    usage = done["usage"]
    assert usage["completion_tokens"] == 3 * 5792
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert list(demo_provider.server.tasks) == [task["id"]]


def test_an_unknown_task_is_404_with_the_error_body(http):
    response = http.get("/v1/tasks/task-unified-1-nosuchid", headers=AUTH)
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["type"] == "not_found_error" and error["message"] and error["code"]


# --- The videos --------------------------------------------------------------------


@pytest.mark.parametrize(("aspect_ratio", "size"), [("16:9", (1280, 720)), ("9:16", (720, 1280))])
def test_the_result_is_a_real_h264_mp4_with_aac_audio(http, demo_provider, tmp_path, aspect_ratio, size):
    demo_provider.server.render = "full"
    done = wait_finished(http, create(http, aspect_ratio=aspect_ratio)["id"])[-1]
    path = download(http, done["results"][0], tmp_path)

    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # faststart: playable before fully loaded
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "h264"
        assert (video.codec_context.width, video.codec_context.height) == size
        assert video.codec_context.pix_fmt == "yuv420p"
        assert float(video.average_rate) == pytest.approx(24, abs=0.5)
        assert video.frames == 72
        assert float(video.duration * video.time_base) == pytest.approx(3, abs=0.05)
        audio = container.streams.audio[0]
        assert audio.codec_context.name == "aac"
        assert float(audio.duration * audio.time_base) == pytest.approx(3, abs=0.1)
        assert container.duration / 1_000_000 == pytest.approx(3, abs=0.1)


def test_auto_picks_a_duration_and_a_size_from_the_prompt():
    assert pick_duration(PROMPT, "auto") == pick_duration(PROMPT, "auto")
    assert {pick_duration(f"prompt {i}", "auto") for i in range(60)} <= set(range(3, 11))
    assert pick_size(PROMPT, "auto") == pick_size(PROMPT, "auto")
    assert {pick_size(f"prompt {i}", "auto") for i in range(30)} == {(1280, 720), (720, 1280)}


def test_a_result_link_expires(http, demo_provider):
    done = wait_finished(http, create(http)["id"])[-1]
    url = done["results"][0]
    assert http.head(url).status_code == 200

    demo_provider.server.result_ttl = 0
    response = http.get(url)
    assert response.status_code == 410
    assert response.json()["error"]["message"]
    assert http.get(demo_provider.base_url + "/files/nosuchtoken.mp4").status_code == 404


def test_a_big_result_is_padded_and_still_plays(http, demo_provider, tmp_path):
    demo_provider.server.big_file_mb = 2
    done = wait_finished(http, create(http)["id"])[-1]

    path = download(http, done["results"][0], tmp_path)

    assert path.stat().st_size == 2 * 1024 * 1024
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == 72


# --- Validation and auth -----------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"model": "veo-3"}, "model"),
        ({"model": None}, "model"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": 42}, "prompt"),
        ({"duration": 2}, "duration"),
        ({"duration": 11}, "duration"),
        ({"duration": "5"}, "duration"),
        ({"duration": True}, "duration"),
        ({"duration": 4.5}, "duration"),
        ({"aspect_ratio": "1:1"}, "aspect_ratio"),
        ({"callback_url": "http://studio.example.org/cb"}, "callback_url"),
        ({"callback_url": "https://127.0.0.1/cb"}, "callback_url"),
        ({"callback_url": "https://10.1.2.3/cb"}, "callback_url"),
        ({"callback_url": "https://192.168.1.9/cb"}, "callback_url"),
        ({"callback_url": "https://localhost/cb"}, "callback_url"),
        ({"callback_url": "https://studio.example.org/" + "x" * 2048}, "callback_url"),
    ],
)
def test_create_validates_the_body_as_documented(fields, param):
    server, base_url = start_in_thread(generation_seconds=0.2)  # strict: no insecure callbacks
    try:
        response = httpx.post(base_url + "/v1/videos/generations", json=body(**fields), headers=AUTH)
    finally:
        server.shutdown()
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    assert error["message"]
    assert server.tasks == {}


def test_create_accepts_a_public_https_callback_and_auto_values(http):
    task = create(http, duration="auto", aspect_ratio="auto", callback_url="https://studio.example.org/cb/x")
    assert task["status"] == "pending"


def test_create_refuses_a_body_that_is_not_json(http):
    response = http.post("/v1/videos/generations", content=b"{nope", headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_a_too_long_prompt_is_413(http, demo_provider):
    response = http.post("/v1/videos/generations", json=body(prompt="x" * 6000), headers=AUTH)
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large_error"
    assert demo_provider.server.tasks == {}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"}])
def test_requests_without_a_bearer_key_are_401(http, headers):
    for response in (
        http.post("/v1/videos/generations", json=body(), headers=headers),
        http.get("/v1/tasks/task-unified-1-abcdefgh", headers=headers),
    ):
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "authentication_error"


def test_a_revoked_key_is_401_and_a_broke_key_is_402_on_create(http, demo_provider):
    revoked = {"Authorization": "Bearer sk-revoked"}
    broke = {"Authorization": "Bearer sk-broke"}
    assert http.get("/v1/tasks/task-unified-1-abcdefgh", headers=revoked).status_code == 401
    assert http.post("/v1/videos/generations", json=body(), headers=revoked).status_code == 401
    response = http.post("/v1/videos/generations", json=body(), headers=broke)
    assert response.status_code == 402
    assert response.json()["error"]["type"] == "insufficient_quota_error"
    assert http.get("/v1/tasks/task-unified-1-abcdefgh", headers=broke).status_code == 404
    assert demo_provider.server.tasks == {}


# --- Fault injection ---------------------------------------------------------------


def test_faults_queued_over_http_apply_to_the_next_matching_requests(http, demo_provider):
    response = http.post("/_demo/faults", json={"fault": "503", "count": 2, "on": "query"})
    assert response.status_code == 200

    assert http.post("/v1/videos/generations", json=body(), headers=AUTH).status_code == 200  # not a query
    url = "/v1/tasks/task-unified-1-abcdefgh"
    assert [http.get(url, headers=AUTH).status_code for _ in range(3)] == [503, 503, 404]


def test_faults_can_be_cleared(http):
    http.post("/_demo/faults", json={"fault": "500", "count": 5})
    assert http.delete("/_demo/faults").json() == {"queued": []}
    assert http.get("/v1/tasks/task-unified-1-abcdefgh", headers=AUTH).status_code == 404


def test_an_unknown_fault_is_refused(http):
    assert http.post("/_demo/faults", json={"fault": "gremlins"}).status_code == 400
    response = http.get("/v1/tasks/x", headers={**AUTH, "X-Demo-Fault": "gremlins"})
    assert response.status_code == 400


def test_a_fault_header_applies_to_one_request(http):
    response = http.get("/v1/tasks/task-unified-1-abcdefgh", headers={**AUTH, "X-Demo-Fault": "429:9"})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "9"
    assert response.json()["error"]["type"] == "rate_limit_error"
    assert http.get("/v1/tasks/task-unified-1-abcdefgh", headers=AUTH).status_code == 404


def test_the_fail_fault_ends_the_task_failed_with_the_chosen_code(http):
    response = http.post(
        "/v1/videos/generations", json=body(), headers={**AUTH, "X-Demo-Fault": "fail:generation_timeout"}
    )
    done = wait_finished(http, response.json()["id"])[-1]
    assert done["status"] == "failed"
    assert done["error"]["code"] == "generation_timeout" and done["error"]["message"]
    assert "results" not in done


def test_malformed_answers_200_with_invalid_json(http):
    response = http.post("/v1/videos/generations", json=body(), headers={**AUTH, "X-Demo-Fault": "malformed"})
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_drop_after_create_creates_the_task_then_hangs_up(http, demo_provider):
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(
            "/v1/videos/generations", json=body(), headers={**AUTH, "X-Demo-Fault": "drop_after_create"}
        )
    assert len(demo_provider.server.tasks) == 1


def test_a_5xx_can_come_without_a_body(http):
    response = http.get("/v1/tasks/x", headers={**AUTH, "X-Demo-Fault": "502:empty"})
    assert response.status_code == 502 and response.content == b""


def test_the_task_list_can_be_inspected(http):
    task = create(http)
    assert [t["id"] for t in http.get("/_demo/tasks").json()["tasks"]] == [task["id"]]


def test_standing_faults_apply_to_every_request():
    server, base_url = start_in_thread(generation_seconds=0.2, faults=["500"])
    try:
        statuses = [httpx.get(base_url + "/v1/tasks/x", headers=AUTH).status_code for _ in range(2)]
    finally:
        server.shutdown()
    assert statuses == [500, 500]


# --- Callbacks ---------------------------------------------------------------------


class Receiver(ThreadingHTTPServer):
    """A tiny loopback callback receiver that fails the first `failures` deliveries."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.received: list[dict] = []
        self.arrived = threading.Event()
        super().__init__(("127.0.0.1", 0), ReceiverHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/callbacks/token-abc"


class ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def log_message(self, format, *args) -> None:
        pass

    def do_POST(self) -> None:
        data = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.received.append({"path": self.path, "body": data})
        status = 500 if len(self.server.received) <= self.server.failures else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if status == 200:
            self.server.arrived.set()


@pytest.fixture
def receiver():
    servers = []

    def make(failures: int = 0) -> Receiver:
        server = Receiver(failures)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_finished_task_is_posted_to_its_callback_url(http, receiver, demo_provider):
    inbox = receiver()
    task = create(http, callback_url=inbox.url)

    assert inbox.arrived.wait(15)
    assert len(inbox.received) == 1
    delivered = inbox.received[0]
    assert delivered["path"] == "/callbacks/token-abc"
    assert delivered["body"]["id"] == task["id"]
    assert delivered["body"]["status"] == "completed"
    assert delivered["body"]["results"]


def test_a_failed_callback_is_retried_three_times_with_growing_delays(http, receiver, demo_provider):
    inbox = receiver(failures=3)
    create(http, callback_url=inbox.url)

    assert inbox.arrived.wait(15)
    attempts = demo_provider.server.callback_attempts
    wait_for(lambda: len(attempts) == 4)  # the provider notes the answer just after it arrives
    assert [a["status"] for a in attempts] == [500, 500, 500, 200]
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(attempts)]
    # Each retry waits at least its delay (0.05, 0.1, 0.2 s in tests; 1, 2, 4 s for real):
    # a lower bound, which a loaded machine can only lengthen.
    assert all(gap >= delay for gap, delay in zip(gaps, demo_provider.server.callback_delays, strict=True))


def test_callbacks_give_up_after_three_retries(http, receiver, demo_provider):
    inbox = receiver(failures=100)
    task = http.post(  # a failing task skips encoding, so this test is quick
        "/v1/videos/generations", json=body(callback_url=inbox.url), headers={**AUTH, "X-Demo-Fault": "fail"}
    ).json()

    wait_for(lambda: task["id"] in demo_provider.server.callbacks_given_up)
    assert len(demo_provider.server.callback_attempts) == 4
    assert len(inbox.received) == 4


def test_a_failed_task_is_posted_too(http, receiver):
    inbox = receiver()
    response = http.post(
        "/v1/videos/generations", json=body(callback_url=inbox.url), headers={**AUTH, "X-Demo-Fault": "fail"}
    )
    assert response.status_code == 200
    assert inbox.arrived.wait(15)
    assert inbox.received[0]["body"]["status"] == "failed"
    assert inbox.received[0]["body"]["error"]["code"] == "content_policy_violation"


# --- The command -------------------------------------------------------------------


@pytest.mark.parametrize("command", [["manage.py", "demoprovider"], ["-m", "studio.demoprovider"]])
def test_the_command_serves_and_stops_cleanly_on_sigterm(tmp_path, command):
    server, _ = start_in_thread()  # borrow a free port, then give it back
    port = server.server_address[1]
    server.shutdown()
    env = {**os.environ, "STUDIO_DATA_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, *command, "--port", str(port), "--allow-insecure-callbacks", "--render", "tiny"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert f"listening on http://127.0.0.1:{port}" in line
        response = httpx.post(
            f"http://127.0.0.1:{port}/v1/videos/generations",
            json=body(callback_url="http://127.0.0.1:9/cb"),
            headers=AUTH,
        )
        assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        # A deadline for a hang, not a measure: a loaded machine takes seconds to stop a process.
        assert process.wait(timeout=60) == 0
        assert "stopped" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# --- Idempotency: a create sent again with its key -----------------------------------


def create_with(http, key: str, header: str = "Idempotency-Key", **fields) -> httpx.Response:
    return http.post("/v1/videos/generations", json=body(**fields), headers={**AUTH, header: key})


def test_a_create_sent_again_with_its_key_answers_the_original_task(http, demo_provider):
    first = create_with(http, "gen-1")
    again = create_with(http, "gen-1")

    assert first.status_code == again.status_code == 200
    assert "idempotency-replayed" not in first.headers
    assert again.headers["idempotency-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert list(demo_provider.server.tasks) == [first.json()["id"]]
    assert demo_provider.server.ledger_report()["keys"]["gen-1"] == {
        "creates": 2,
        "replays": 1,
        "tasks": [first.json()["id"]],
    }


def test_the_replay_shows_the_task_as_it_stands_now(http):
    first = create_with(http, "gen-1")
    wait_finished(http, first.json()["id"])

    again = create_with(http, "gen-1").json()

    assert again["status"] == "completed" and again["results"]


def test_x_evo_run_id_is_the_same_key(http, demo_provider):
    first = create_with(http, "run-7", header="X-Evo-Run-Id")
    again = http.post(
        "/v1/videos/generations",
        json=body(),
        headers={**AUTH, "Idempotency-Key": "run-7", "X-Evo-Run-Id": "run-7"},
    )
    assert again.headers["idempotency-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]

    clash = http.post(
        "/v1/videos/generations", json=body(), headers={**AUTH, "Idempotency-Key": "a", "X-Evo-Run-Id": "b"}
    )
    assert clash.status_code == 400
    assert clash.json()["error"]["param"] == "Idempotency-Key"
    assert len(demo_provider.server.tasks) == 1


def test_a_key_reused_for_another_prompt_is_refused_and_makes_nothing(http, demo_provider):
    create_with(http, "gen-1")

    for changed in ({"prompt": "A different prompt."}, {"duration": 4}, {"aspect_ratio": "9:16"}):
        response = create_with(http, "gen-1", **changed)
        assert response.status_code == 422
        error = response.json()["error"]
        assert (error["code"], error["type"], error["param"]) == (
            "idempotency_key_reused",
            "invalid_request_error",
            "Idempotency-Key",
        )
    assert len(demo_provider.server.tasks) == 1


def test_a_new_callback_url_still_replays_and_the_original_callback_stays(http, demo_provider):
    first = create_with(http, "gen-1", callback_url="https://studio.example.org/cb/old")
    again = create_with(http, "gen-1", callback_url="https://studio.example.org/cb/new")

    assert again.headers["idempotency-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert demo_provider.server.tasks[first.json()["id"]].callback_url.endswith("/cb/old")


def test_a_create_whose_answer_was_dropped_is_recovered_by_sending_it_again(http, demo_provider):
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(
            "/v1/videos/generations",
            json=body(),
            headers={**AUTH, "Idempotency-Key": "gen-1", "X-Demo-Fault": "drop_after_create"},
        )
    (made,) = demo_provider.server.tasks

    again = create_with(http, "gen-1")

    assert again.headers["idempotency-replayed"] == "true"
    assert again.json()["id"] == made
    assert demo_provider.server.ledger_report()["sent_twice"] == []


def test_a_refused_create_leaves_its_key_free(http, demo_provider):
    refused = http.post(
        "/v1/videos/generations", json=body(), headers={**AUTH, "Idempotency-Key": "k", "X-Demo-Fault": "503"}
    )
    invalid = create_with(http, "k", duration=99)
    made = create_with(http, "k")

    assert (refused.status_code, invalid.status_code, made.status_code) == (503, 400, 200)
    assert "idempotency-replayed" not in made.headers
    assert len(demo_provider.server.tasks) == 1


def test_creates_racing_with_one_key_make_one_task(demo_provider):
    def send(_: int) -> str:
        with httpx.Client(base_url=demo_provider.base_url, timeout=10) as client:
            return create_with(client, "gen-race").json()["id"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = set(pool.map(send, range(8)))

    assert len(ids) == 1 and len(demo_provider.server.tasks) == 1
    assert demo_provider.server.ledger_report()["keys"]["gen-race"]["replays"] == 7


def test_a_key_is_remembered_for_a_day_only(http, demo_provider, monkeypatch):
    first = create_with(http, "gen-1").json()["id"]
    monkeypatch.setattr("studio.demoprovider.ledger.KEY_TTL", -1)  # as if a day had passed

    again = create_with(http, "gen-1")

    assert "idempotency-replayed" not in again.headers
    assert again.json()["id"] != first
    assert demo_provider.server.ledger_report()["keys"]["gen-1"]["tasks"] == [again.json()["id"]]


def test_a_gateway_that_ignores_keys_makes_a_task_per_create(http, demo_provider):
    assert (
        http.post("/_demo/config", json={"honour_idempotency": False}).json()["honour_idempotency"] is False
    )

    first, again = create_with(http, "gen-1"), create_with(http, "gen-1")

    assert first.json()["id"] != again.json()["id"]
    assert "idempotency-replayed" not in again.headers
    report = http.get("/_demo/ledger").json()
    assert report["sent_twice"] == ["gen-1"]
    assert report["keys"]["gen-1"] == {
        "creates": 2,
        "replays": 0,
        "tasks": [first.json()["id"], again.json()["id"]],
    }


# --- Batch reads and the task list ---------------------------------------------------


def test_a_batch_answers_the_known_tasks_in_the_order_asked(http):
    a, b = create(http)["id"], create(http)["id"]

    response = http.post(
        "/v1/tasks/batch", json={"task_ids": [b, "task-unified-1-nosuchid", a, b]}, headers=AUTH
    )

    assert response.status_code == 200
    data = response.json()["data"]
    assert [t["id"] for t in data] == [b, a]
    assert data[0]["object"] == "video.generation.task" and data[0]["status"] in ("pending", "processing")


def test_a_batch_of_finished_tasks_carries_their_results(http):
    task_id = create(http)["id"]
    wait_finished(http, task_id)

    (task,) = http.post("/v1/tasks/batch", json={"task_ids": [task_id]}, headers=AUTH).json()["data"]

    assert task["status"] == "completed" and task["results"]


@pytest.mark.parametrize(
    "payload",
    [{"task_ids": [f"task-unified-1-{i:08d}" for i in range(51)]}, {"task_ids": "x"}, {"ids": []}, [1]],
)
def test_a_bad_batch_is_400(http, payload):
    response = http.post("/v1/tasks/batch", json=payload, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "task_ids"


def test_batch_and_list_and_credits_need_a_key(http):
    for response in (
        http.post("/v1/tasks/batch", json={"task_ids": []}),
        http.get("/v1/tasks"),
        http.get("/v1/credits"),
    ):
        assert response.status_code == 401


def test_the_list_is_newest_first_in_pages_without_result_links(http, demo_provider):
    ids = [create(http)["id"] for _ in range(5)]
    wait_finished(http, ids[0])

    page1 = http.get(
        "/v1/tasks", params={"type": "video", "model": MODEL, "page_size": 2}, headers=AUTH
    ).json()
    page3 = http.get("/v1/tasks", params={"page": 3, "page_size": 2}, headers=AUTH).json()

    assert (page1["total"], page1["page"], page1["page_size"]) == (5, 1, 2)
    assert [t["id"] for t in page1["data"]] == [ids[4], ids[3]]
    assert [t["id"] for t in page3["data"]] == [ids[0]]
    oldest = page3["data"][0]
    assert set(oldest) == {
        "id", "status", "model", "type", "progress", "created_at", "has_results", "has_error", "credits_used",
    }  # fmt: skip
    assert (oldest["status"], oldest["has_results"], oldest["has_error"]) == ("completed", True, False)
    assert oldest["credits_used"] == demo_provider.server.tasks[ids[0]].credits_reserved
    assert oldest["created_at"] == int(demo_provider.server.tasks[ids[0]].created)


def test_the_list_filters_by_status_type_and_model(http):
    failed = http.post("/v1/videos/generations", json=body(), headers={**AUTH, "X-Demo-Fault": "fail"}).json()
    wait_finished(http, failed["id"])
    create(http)

    def ids(**params) -> list[str]:
        return [t["id"] for t in http.get("/v1/tasks", params=params, headers=AUTH).json()["data"]]

    assert ids(status="failed") == [failed["id"]]
    item = http.get("/v1/tasks", params={"status": "failed"}, headers=AUTH).json()["data"][0]
    assert (item["has_error"], item["has_results"], item["credits_used"]) == (True, False, 0)
    assert ids(model="veo-3") == [] and ids(type="image") == []
    assert len(ids(type="video", model=MODEL, status="")) == 2


@pytest.mark.parametrize(
    "params", [{"page_size": 51}, {"page_size": 0}, {"page": 0}, {"page": "x"}, {"status": "done"}]
)
def test_a_bad_list_query_is_400(http, params):
    response = http.get("/v1/tasks", params=params, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == next(iter(params))


def test_reads_of_tasks_take_query_faults(http):
    http.post("/_demo/faults", json={"fault": "503", "count": 3, "on": "query"})
    assert http.post("/v1/tasks/batch", json={"task_ids": []}, headers=AUTH).status_code == 503
    assert http.get("/v1/tasks", headers=AUTH).status_code == 503
    assert http.get("/v1/credits", headers=AUTH).status_code == 503
    assert http.get("/v1/credits", headers=AUTH).status_code == 200


# --- Credits -------------------------------------------------------------------------


def credits(http, key: dict = AUTH) -> dict:
    response = http.get("/v1/credits", headers=key)
    assert response.status_code == 200
    return response.json()["data"]


def test_credits_are_held_when_created_spent_when_completed(http, demo_provider):
    granted = credits(http)["user"]["remaining_credits"]
    task = create(http)
    price = task["usage"]["credits_reserved"]
    assert credits(http)["user"]["remaining_credits"] == pytest.approx(granted - price)
    assert credits(http)["token"]["used_credits"] == 0

    wait_finished(http, task["id"])

    balance = credits(http)
    assert balance["user"]["remaining_credits"] == pytest.approx(granted - price)
    assert balance["token"] == {
        "used_credits": price,
        "remaining_credits": pytest.approx(granted - price),
        "unlimited_credits": True,
    }
    assert credits(http, {"Authorization": "Bearer sk-other"})["token"]["used_credits"] == 0


def test_a_failed_task_is_not_charged_and_a_replay_costs_nothing(http):
    granted = credits(http)["user"]["remaining_credits"]
    headers = {**AUTH, "X-Demo-Fault": "fail", "Idempotency-Key": "gen-1"}
    failed = http.post("/v1/videos/generations", json=body(), headers=headers).json()
    wait_finished(http, failed["id"])
    create_with(http, "gen-1")

    assert credits(http)["user"]["remaining_credits"] == granted
    assert credits(http)["token"]["used_credits"] == 0


def test_a_create_the_credits_do_not_cover_is_402_before_any_task(http, demo_provider):
    demo_provider.server.configure({"credits": 60})
    create(http, duration=5)  # about 29 credits

    response = http.post("/v1/videos/generations", json=body(duration=10), headers=AUTH)

    assert response.status_code == 402
    error = response.json()["error"]
    assert (error["code"], error["type"]) == ("insufficient_user_quota", "insufficient_quota_error")
    assert len(demo_provider.server.tasks) == 1


# --- What tests and drills read: billed and fetched ---------------------------------


def test_the_ledger_lists_billed_tasks_until_their_result_is_downloaded(http, demo_provider, tmp_path):
    keyed = create_with(http, "gen-1").json()["id"]
    unkeyed = create(http)["id"]
    done = wait_finished(http, keyed)[-1]
    wait_finished(http, unkeyed)
    assert http.head(done["results"][0]).status_code == 200  # a HEAD is not a download

    assert sorted(demo_provider.server.ledger_report()["billed_unfetched"]) == sorted([keyed, unkeyed])
    download(http, done["results"][0], tmp_path)

    report = http.get("/_demo/ledger").json()
    assert report == demo_provider.server.ledger_report()
    assert report["billed_unfetched"] == [unkeyed]
    assert report["unkeyed_tasks"] == 1
    by_id = {t["id"]: t for t in report["tasks"]}
    assert by_id[keyed] == {
        "id": keyed,
        "idempotency_key": "gen-1",
        "status": "completed",
        "billed": True,
        "credits_used": demo_provider.server.tasks[keyed].credits_reserved,
        "downloads": 1,
    }


def test_a_dropped_download_is_not_a_fetch(http, demo_provider):
    done = wait_finished(http, create(http)["id"])[-1]
    with pytest.raises(httpx.RemoteProtocolError):
        http.get(done["results"][0], headers={"X-Demo-Fault": "drop"})
    assert demo_provider.server.ledger_report()["billed_unfetched"] == [done["id"]]


# --- The tiny clip -------------------------------------------------------------------


def test_the_tiny_clip_has_the_real_shape_and_is_made_once(http, demo_provider, tmp_path):
    assert http.post("/_demo/config", json={"render": "full"}).json()["render"] == "full"
    assert http.post("/_demo/config", json={"render": "tiny"}).json()["render"] == "tiny"
    first = wait_finished(http, create(http, aspect_ratio="9:16")["id"])[-1]
    second = wait_finished(http, create(http, prompt="Another prompt.", aspect_ratio="9:16")["id"])[-1]

    path = download(http, first["results"][0], tmp_path)
    assert http.get(second["results"][0]).content == path.read_bytes()
    assert first["results"] != second["results"]  # each task keeps its own link
    assert path.stat().st_size < 100_000
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "h264"
        assert (video.codec_context.width, video.codec_context.height) == (720, 1280)
        assert video.frames == 72
        assert container.streams.audio[0].codec_context.name == "aac"
        assert container.duration / 1_000_000 == pytest.approx(3, abs=0.1)


def test_an_unknown_render_or_setting_is_refused(http):
    assert http.post("/_demo/config", json={"render": "fancy"}).status_code == 400
    assert http.post("/_demo/config", json={"colour": "red"}).status_code == 400
    assert http.post("/_demo/config", json={"honour_idempotency": "no"}).status_code == 400


# --- A program of its own ------------------------------------------------------------


def test_the_package_imports_nothing_of_the_studio_or_django():
    code = (
        "import pkgutil, sys, importlib, studio.demoprovider as p\n"
        "for m in pkgutil.iter_modules(p.__path__):\n"
        "    if m.name != '__main__': importlib.import_module('studio.demoprovider.' + m.name)\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()

    studio = [m for m in loaded if m == "studio" or m.startswith("studio.")]
    assert studio and all(
        m in ("studio", "studio.demoprovider") or m.startswith("studio.demoprovider.") for m in studio
    )
    assert not [m for m in loaded if m == "django" or m.startswith("django.")]


def test_no_module_of_the_package_names_the_studio_even_inside_a_function():
    # The subprocess test sees only what loads at import; this sees lazy imports too.
    for path in (ROOT / "studio" / "demoprovider").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            for name in names:
                assert not name.startswith(("studio", "django")) or name.startswith("studio.demoprovider"), (
                    f"{path.name} imports {name}"
                )


def test_runstudio_gets_real_rendering_and_an_honest_ledger_by_default():
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    server = cli.build_server({**vars(parser.parse_args(["--port", "0"]))})
    try:
        assert server.render == "full"
        assert server.ledger.honour_keys is True
    finally:
        server.server_close()
