"""`manage.py runstudio` brings the whole studio up and takes it down cleanly."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes_with(marker: str) -> list[int]:
    """Processes whose environment mentions marker (this run's data folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _quick_queue(env: dict[str, str], folder: Path) -> dict[str, str]:
    """The studio's settings with the database queue polled every second instead of every 10 s.

    The queue's pusher ends its wait before it stops, so each studio stopped here would take
    10 s more; what runstudio starts and stops is the same.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "runstudio_test_settings.py").write_text(
        "from studio.settings import *  # noqa: F403\nQ_CLUSTER = {**Q_CLUSTER, 'poll': 1}  # noqa: F405\n"
    )
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "runstudio_test_settings",
        "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)]),
    }


def wait_for(url: str, seconds: float = 60) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_runstudio_serves_the_studio_and_stops_everything_on_a_signal(tmp_path, stop_signal):
    port, demo_port = free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "STUDIO_", "DATABASE_URL", "REDIS_URL", "EVOLINK_"))
    }
    env.update(
        STUDIO_DATA_DIR=str(tmp_path / "data"),
        STUDIO_STATIC_ROOT=str(tmp_path / "static"),
        STUDIO_DEMO_PROVIDER_PORT=str(demo_port),
    )
    env = _quick_queue(env, tmp_path / "settings")
    studio = subprocess.Popen(
        [sys.executable, "manage.py", "runstudio", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        page = wait_for(f"http://127.0.0.1:{port}/login/")
        assert page.status_code == 200
        assert "Demo mode" in page.text
        css = httpx.get(f"http://127.0.0.1:{port}/static/css/studio.css")
        assert css.status_code == 200
        # A provider callback is answered, and its secret token stays out of the access log.
        hook = httpx.post(f"http://127.0.0.1:{port}/hooks/evolink/{uuid.uuid4()}/sEcReTtOkEn42/", json={})
        assert hook.status_code == 204
        assert httpx.get(f"http://127.0.0.1:{port}/invite/iNvItEtOkEn42/").status_code == 404
        assert httpx.get(f"http://127.0.0.1:{port}/signup/?invite=iNvItEtOkEn42").status_code == 200
        # /healthz: every check passes once the sweeper has recorded its first heartbeat.
        deadline = time.monotonic() + 60
        while (health := httpx.get(f"http://127.0.0.1:{port}/healthz")).status_code != 200:
            assert time.monotonic() < deadline, health.text
            time.sleep(0.3)
        assert health.json()["status"] == "ok"
        probe = subprocess.run(
            [sys.executable, "-m", "studio.ops.probe"],
            cwd=ROOT,
            env={**env, "STUDIO_HEALTH_URL": f"http://127.0.0.1:{port}/healthz"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert probe.returncode == 0, probe.stdout
        assert '"status": "ok"' in probe.stdout
        # In demo mode the demo provider answers too (401 without a key).
        assert wait_for(f"http://127.0.0.1:{demo_port}/v1/tasks/task-unified-1-x").status_code == 401
        studio.send_signal(stop_signal)
        output, _ = studio.communicate(timeout=30)
    finally:
        if studio.poll() is None:
            os.killpg(studio.pid, signal.SIGKILL)
    assert f"open http://localhost:{port}/" in output
    assert "Stopped." in output
    # gunicorn's control socket sits in this studio's data folder, not at the one per-user
    # path another studio on the machine would use too; it is gone once stopped.
    assert f"Control socket listening at {tmp_path / 'data'}/gunicorn-" in output
    assert list((tmp_path / "data").glob("gunicorn-*.ctl")) == []
    # The sweeper ran beside the web server and the worker, and finished cleanly on the signal.
    assert "The sweep is running." in output
    assert "The sweep stopped after" in output
    assert "/hooks/evolink/[redacted]" in output
    assert "sEcReTtOkEn42" not in output
    assert "/invite/[redacted]" in output
    assert "iNvItEtOkEn42" not in output  # nor in Django's own "Not Found" line
    assert studio.returncode == 0
    # Nothing it started is left running (django-q2's workers included) or listening.
    assert _processes_with(str(tmp_path / "data")) == []
    for p in (port, demo_port):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", p)) != 0


def _studio_env(data: Path, demo_port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "STUDIO_", "DATABASE_URL", "REDIS_URL", "EVOLINK_"))
    }
    env.update(
        STUDIO_DATA_DIR=str(data),
        STUDIO_STATIC_ROOT=str(data.parent / "static"),
        STUDIO_DEMO_PROVIDER_PORT=str(demo_port),
    )
    return _quick_queue(env, data.parent / "settings")


def _start_studio(folder: Path, port: int, demo_port: int) -> tuple[subprocess.Popen, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / "runstudio.log"
    with log_path.open("w") as log_file:
        studio = subprocess.Popen(
            [sys.executable, "manage.py", "runstudio", "--port", str(port)],
            cwd=ROOT,
            env=_studio_env(folder / "data", demo_port),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    return studio, log_path


def _wait_for_line(log_path: Path, pattern: str, studio: subprocess.Popen, seconds: float = 60) -> re.Match:
    deadline = time.monotonic() + seconds
    while True:
        if found := re.search(pattern, log_path.read_text()):
            return found
        if studio.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{pattern!r} not in the output:\n{log_path.read_text()}")
        time.sleep(0.2)


def _stop(studio: subprocess.Popen) -> int:
    if studio.poll() is None:
        studio.send_signal(signal.SIGTERM)
        try:
            return studio.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(studio.pid, signal.SIGKILL)
            studio.wait()
    return studio.returncode


def test_two_studios_on_one_machine_keep_their_ports_and_control_sockets_apart(tmp_path):
    port_a, port_b, demo_port = free_port(), free_port(), free_port()
    first, first_log = _start_studio(tmp_path / "a", port_a, demo_port)
    second = None
    try:
        assert wait_for(f"http://127.0.0.1:{port_a}/login/").status_code == 200
        assert wait_for(f"http://127.0.0.1:{demo_port}/v1/tasks/task-unified-1-x").status_code == 401
        first_socket = _wait_for_line(first_log, r"Control socket listening at (\S+)", first)[1]
        assert first_socket.startswith(str(tmp_path / "a" / "data"))

        # The demo provider alone on a taken port: one clear line, no traceback.
        lone = subprocess.run(
            [sys.executable, "manage.py", "demoprovider", "--port", str(demo_port)],
            cwd=ROOT,
            env=_studio_env(tmp_path / "lone", demo_port),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert lone.returncode != 0
        assert f"Cannot listen on 127.0.0.1:{demo_port}: the port is already in use" in lone.stderr
        assert "STUDIO_DEMO_PROVIDER_PORT" in lone.stderr
        assert "Traceback" not in lone.stderr + lone.stdout

        # A second studio on the first one's web port says which option to change, and starts nothing.
        clash = subprocess.run(
            [sys.executable, "manage.py", "runstudio", "--port", str(port_a)],
            cwd=ROOT,
            env=_studio_env(tmp_path / "clash" / "data", demo_port),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert clash.returncode != 0
        assert f"Port {port_a} on 127.0.0.1 is already in use" in clash.stderr
        assert "--port" in clash.stderr
        assert "Traceback" not in clash.stderr + clash.stdout
        assert "Preparing the database" not in clash.stdout

        # On its own web port, with the same demo provider port, it picks a free one and says so.
        second, second_log = _start_studio(tmp_path / "b", port_b, demo_port)
        moved = _wait_for_line(
            second_log, rf"demo provider's port {demo_port} is in use.*uses port (\d+) instead", second
        )
        assert "STUDIO_DEMO_PROVIDER_PORT" in second_log.read_text()
        second_demo = int(moved[1])
        assert second_demo != demo_port
        assert wait_for(f"http://127.0.0.1:{port_b}/login/").status_code == 200
        assert wait_for(f"http://127.0.0.1:{second_demo}/v1/tasks/task-unified-1-x").status_code == 401
        # Its web server, worker and sweeper were told the demo provider's new port.
        told = [
            pid
            for pid in _processes_with(str(tmp_path / "b" / "data"))
            if f"STUDIO_DEMO_PROVIDER_PORT={second_demo}".encode()
            in Path(f"/proc/{pid}/environ").read_bytes()
        ]
        assert len(told) >= 4  # runstudio's children: web, worker, sweeper, demo provider
        second_socket = _wait_for_line(second_log, r"Control socket listening at (\S+)", second)[1]
        assert second_socket.startswith(str(tmp_path / "b" / "data"))

        # Stopping the second leaves the first whole: its control socket, its web server, its demo provider.
        assert _stop(second) == 0
        assert "Traceback" not in second_log.read_text()
        assert Path(first_socket).is_socket()
        assert not Path(second_socket).exists()
        assert httpx.get(f"http://127.0.0.1:{port_a}/login/").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{demo_port}/v1/tasks/task-unified-1-x").status_code == 401
    finally:
        if second is not None:
            _stop(second)
        code = _stop(first)
    assert code == 0
    assert "Traceback" not in first_log.read_text()
    assert _processes_with(str(tmp_path / "a" / "data")) == []
    assert _processes_with(str(tmp_path / "b" / "data")) == []
