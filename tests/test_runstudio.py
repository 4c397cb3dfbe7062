"""`manage.py runstudio` brings the whole studio up and takes it down cleanly."""

from __future__ import annotations

import os
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
        # In demo mode the demo provider answers too (401 without a key).
        assert wait_for(f"http://127.0.0.1:{demo_port}/v1/tasks/task-unified-1-x").status_code == 401
        studio.send_signal(stop_signal)
        output, _ = studio.communicate(timeout=30)
    finally:
        if studio.poll() is None:
            os.killpg(studio.pid, signal.SIGKILL)
    assert f"open http://localhost:{port}/" in output
    assert "Stopped." in output
    # No gunicorn control socket at the one per-user path another studio on the machine uses too.
    assert "Control socket" not in output
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
