"""Scaling out is configuration alone: REDIS_URL moves the task queue and the cache to Redis,
and docker-compose.yml runs the scaled-out shape.

Runs a real django-q2 worker against the Redis server on 127.0.0.1:6379 (skipped
where there is none, e.g. a laptop without Redis). The compose file is read as
YAML, and checked by `docker compose config` where that runs (no engine needed).
The same shape without Docker, run for real, is tests/test_scaleout_shape.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_is_up() -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", 6379)) == 0


needs_redis = pytest.mark.skipif(not _redis_is_up(), reason="no Redis server on 127.0.0.1:6379")


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


def _shell(code: str, env: dict[str, str], timeout: float = 60) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@needs_redis
def test_a_worker_on_redis_runs_a_queued_task_and_the_cache_is_shared(tmp_path):
    env = _env(tmp_path)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    # One process sets the cache and queues the task; the worker runs it; another reads both.
    kinds, task_id = _shell(
        "from django_q.brokers import get_broker; from django.core.cache import cache, caches;"
        "from django_q.tasks import async_task;"
        "b = get_broker(); b.purge_queue(); cache.set('scale-out', 'shared', 600);"
        "print(type(b).__name__, type(caches['default']).__name__, list(caches.settings));"
        "print(async_task('math.floor', 2.5))",
        env,
    ).splitlines()
    assert kinds == "Redis RedisCache ['default']"

    worker = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # Waits in one process for the worker's result (None until it is stored), then reads
        # the cache: another process (another web worker, another machine) sees the same one.
        # The key outlives the slowest run (it is this run's own prefix), and is removed here.
        outcome, cached = _shell(
            "import time; from django_q.tasks import result; from django.core.cache import cache;"
            "deadline = time.monotonic() + 120\n"
            f"while result({task_id!r}) is None and time.monotonic() < deadline: time.sleep(0.2)\n"
            f"print(result({task_id!r})); print(cache.get('scale-out')); cache.delete('scale-out')",
            env,
            timeout=150,
        ).splitlines()
    finally:
        # SIGTERM to the cluster's leader, which stops its own workers: sent to the whole group
        # at once, django-q2 waits out a 30 s grace. Whatever is left of the group goes after.
        worker.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
    assert outcome == "2"
    assert cached == "shared"


# --- docker-compose.yml -------------------------------------------------------------------


def _compose() -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


STUDIO_SERVICES = ("web", "worker", "sweeper")


def test_compose_migrates_once_as_its_own_step_before_any_web_or_worker_process():
    services = _compose()["services"]
    migrate = services["migrate"]
    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    for name in STUDIO_SERVICES:
        service = services[name]
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert "migrate" not in str(service.get("command", ""))
    assert services["worker"]["command"] == ["python", "manage.py", "qcluster"]
    assert services["sweeper"]["command"] == ["python", "manage.py", "sweep"]


def test_compose_runs_two_of_each_with_one_configuration():
    services = _compose()["services"]
    for name in STUDIO_SERVICES:
        assert services[name]["deploy"]["replicas"] == 2
    environments = [services[name]["environment"] for name in (*STUDIO_SERVICES, "migrate")]
    shared = ("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "STUDIO_S3_BUCKET", "STUDIO_S3_ENDPOINT_URL")
    for key in shared:
        assert len({env[key] for env in environments}) == 1, key
    env = environments[0]
    assert env["DATABASE_URL"].startswith("postgres://") and env["REDIS_URL"].startswith("redis://")
    assert env["STUDIO_BEHIND_PROXY"] == "1"
    # Every process reaches the bucket inside the network; browsers its https endpoint on nginx.
    assert env["STUDIO_S3_ENDPOINT_URL"] == "http://s3:9000"
    assert env["STUDIO_S3_PUBLIC_ENDPOINT_URL"].endswith(":9443}")


def test_compose_puts_nginx_in_front_with_tls_and_health_checks_on_healthz():
    services = _compose()["services"]
    assert services["web"]["healthcheck"]["test"] == ["CMD", "python", "-m", "studio.ops.probe"]
    for name in ("worker", "sweeper", "migrate"):
        assert services[name]["healthcheck"] == {"disable": True}  # no web server in them
    nginx = services["nginx"]
    assert nginx["depends_on"]["web"]["condition"] == "service_healthy"
    assert "443:443" in nginx["ports"]
    assert (
        "./deploy/nginx/studio.conf.template:/etc/nginx/templates/default.conf.template:ro"
        in nginx["volumes"]
    )
    assert "media:/data:ro" in nginx["volumes"]
    assert nginx["environment"]["STUDIO_UPSTREAMS"] == "server web:8000;"
    assert nginx["environment"]["STUDIO_X_ACCEL_REDIRECT_PREFIX"] == "/protected-media/"
    template = (ROOT / "deploy" / "nginx" / "studio.conf.template").read_text()
    for name in nginx["environment"]:
        assert "${" + name + "}" in template, name
    assert "/healthz" in str(nginx["healthcheck"]["test"])


def _compose_cli() -> list[str] | None:
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_docker_compose_accepts_the_file():
    """`config` parses, interpolates and validates without a Docker engine."""
    cli = _compose_cli()
    if cli is None:
        pytest.skip("neither `docker compose` nor docker-compose is installed")
    env = {**os.environ, "DJANGO_SECRET_KEY": "compose-config-check"}
    checked = subprocess.run(
        [*cli, "-f", "docker-compose.yml", "config", "-q"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    # Without the secret key it refuses, naming it.
    env.pop("DJANGO_SECRET_KEY")
    refused = subprocess.run(
        [*cli, "-f", "docker-compose.yml", "config", "-q"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert refused.returncode != 0 and "DJANGO_SECRET_KEY" in refused.stderr
