"""Scaling out is configuration alone: REDIS_URL moves the task queue and the cache to Redis.

Runs a real django-q2 worker against the Redis server on 127.0.0.1:6379 (skipped
where there is none, e.g. a laptop without Redis).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_is_up() -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", 6379)) == 0


pytestmark = pytest.mark.skipif(not _redis_is_up(), reason="no Redis server on 127.0.0.1:6379")


def _env(tmp_path: Path) -> dict[str, str]:
    """This run's own queue and cache keys on the shared Redis: two suites running at
    once (or two machines' CI) would otherwise take and purge each other's tasks."""
    run = uuid.uuid4().hex[:12]
    (tmp_path / "scale_out_settings.py").write_text(
        "from studio.settings import *  # noqa: F403\n"
        f"Q_CLUSTER = {{**Q_CLUSTER, 'name': 'studio-test-{run}'}}  # noqa: F405\n"
        f"for _alias in CACHES:  # noqa: F405\n"
        f"    CACHES[_alias]['KEY_PREFIX'] += '-test-{run}'  # noqa: F405\n"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "STUDIO_", "DATABASE_URL", "REDIS_URL", "EVOLINK_"))
    }
    env.update(
        STUDIO_DATA_DIR=str(tmp_path),
        REDIS_URL=REDIS_URL,
        DJANGO_SETTINGS_MODULE="scale_out_settings",
        PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]),
    )
    return env


def _shell(code: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_worker_on_redis_runs_a_queued_task_and_the_cache_is_shared(tmp_path):
    env = _env(tmp_path)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    kinds = _shell(
        "from django_q.brokers import get_broker; from django.core.cache import cache, caches;"
        "b = get_broker(); b.purge_queue(); cache.set('scale-out', 'shared', 600);"
        "print(type(b).__name__, type(caches['default']).__name__, list(caches.settings))",
        env,
    )
    assert kinds == "Redis RedisCache ['default']"
    task_id = _shell("from django_q.tasks import async_task; print(async_task('math.floor', 2.5))", env)

    worker = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        outcome = ""
        while time.monotonic() < deadline:
            outcome = _shell(f"from django_q.tasks import result; print(result({task_id!r}))", env)
            if outcome != "None":
                break
            time.sleep(1)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
    assert outcome == "2"
    # Another process (another web worker, another machine) sees the same cache.
    # The key outlives the slowest run (it is this run's own prefix), and is removed here.
    assert (
        _shell(
            "from django.core.cache import cache; print(cache.get('scale-out')); cache.delete('scale-out')",
            env,
        )
        == "shared"
    )
