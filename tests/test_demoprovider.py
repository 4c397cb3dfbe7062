"""The demo provider keeps the EvoLink contract, makes real videos and calls back."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import httpx
import pytest

from studio.videos.demoprovider import MODEL, pick_duration, pick_size, start_in_thread

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
def test_the_result_is_a_real_h264_mp4_with_aac_audio(http, tmp_path, aspect_ratio, size):
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
    assert gaps[0] < gaps[1] < gaps[2]  # 0.05, 0.1, 0.2 s in tests; 1, 2, 4 s for real


def test_callbacks_give_up_after_three_retries(http, receiver, demo_provider):
    inbox = receiver(failures=100)
    http.post(  # a failing task skips encoding, so this test is quick
        "/v1/videos/generations", json=body(callback_url=inbox.url), headers={**AUTH, "X-Demo-Fault": "fail"}
    )

    wait_for(lambda: len(demo_provider.server.callback_attempts) >= 4)
    time.sleep(0.4)  # and no fifth
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


def test_the_command_serves_and_stops_cleanly_on_sigterm(tmp_path):
    server, _ = start_in_thread()  # borrow a free port, then give it back
    port = server.server_address[1]
    server.shutdown()
    env = {**os.environ, "STUDIO_DATA_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "demoprovider", "--port", str(port), "--allow-insecure-callbacks"],
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
        assert process.wait(timeout=10) == 0
        assert "stopped" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
