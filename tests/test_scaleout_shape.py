"""The scaled-out shape, started by hand as deploy/scaleout.py does, proves itself.

PostgreSQL, Redis, moto's S3 server, migrate once, two gunicorn web processes behind
nginx (TLS), two worker machines (qcluster + sweeper each) and the demo provider:
generations made through nginx as a signed-in person, one worker machine SIGKILLed
mid-run, and bench/bench_scaleout.py's checks (each stored exactly once, none
submitted twice, no task read by two at the same moment, reads spread over both
machines, playback through nginx). Needs the local PostgreSQL and Redis, and nginx
(the script installs it with apt-get when it is missing and it may).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "deploy"))

import bench_scaleout  # noqa: E402
import scaleout  # noqa: E402


def _listening(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((parts.hostname or "127.0.0.1", parts.port or default_port)) == 0


def _nginx_available() -> bool:
    return bool(shutil.which("nginx") or Path("/usr/sbin/nginx").exists() or os.geteuid() == 0)


pytestmark = [
    pytest.mark.skipif(
        not _listening(scaleout._database_server(""), 5432),
        reason="no PostgreSQL server to make a database on",
    ),
    pytest.mark.skipif(not _listening(scaleout.DEFAULT_REDIS_URL, 6379), reason="no Redis server"),
    pytest.mark.skipif(not _nginx_available(), reason="no nginx, and no root to apt-get install it"),
    # The shape makes its own PostgreSQL database whatever the suite runs on: the
    # suite's PostgreSQL pass would only run the same thing again.
    pytest.mark.skipif(
        os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="runs in the SQLite pass (the shape is on PostgreSQL either way)",
    ),
]


def _args(**overrides) -> argparse.Namespace:
    values = {
        "generations": 12,
        "storage": "s3",
        "web_workers": 1,
        "generation_seconds": 4.0,
        "timeout": 300,
        "keep": False,
        "kill_mode": "create",
    }
    return argparse.Namespace(**{**values, **overrides})


# After the kill, machine A sends the create B died in again once B's claim on the row lapses
# (connect + read timeout + 5 s) and the resend interval has passed: 30 s with the defaults,
# 15 s with these (the same steps, in the same order).
QUICKER_RESEND = {
    "EVOLINK_CONNECT_TIMEOUT": "3",
    "EVOLINK_READ_TIMEOUT": "7",
    "STUDIO_UNKNOWN_RETRY_SECONDS": "10",
}


def test_two_machines_on_s3_store_each_generation_once_and_one_survives_the_other_killed():
    result = bench_scaleout.run("kill", _args(environment=QUICKER_RESEND))
    bench_scaleout.print_results([result])
    assert result.problems == []
    assert result.ready_seconds is not None
    figures = result.figures
    assert figures["provider tasks per generation"] == "max 1"
    assert figures["submitted twice"] == 0
    assert figures["video objects per generation"] == "max 1"
    assert figures["writes per video object"] == "max 1"
    assert figures["reads of one task at the same moment"] == 0
    assert set(figures["task reads by machine"]) == {"a", "b"}
    # The create B was killed in was sent again by A with the same key: replayed, not made twice.
    assert "during one of its provider creates" in figures["killed"]
    assert figures["creates per generation"].endswith("max 2")
    assert figures["playback through nginx"].startswith("302 to a presigned URL")


def test_local_media_on_a_shared_folder_plays_through_nginx_with_x_accel_redirect():
    # One machine is enough here: a shared folder is what one Docker host's volume is.
    result = bench_scaleout.run("one", _args(generations=4, storage="files"))
    bench_scaleout.print_results([result])
    assert result.problems == []
    assert result.figures["video objects per generation"] == "max 1"
    assert result.figures["playback through nginx"] == "200 and 206 from nginx through X-Accel-Redirect"


def test_the_nginx_template_is_filled_for_each_web_process(tmp_path):
    values = {
        "STUDIO_UPSTREAMS": "server 127.0.0.1:8001; server 127.0.0.1:8002;",
        "NGINX_HTTP_PORT": "80",
        "NGINX_HTTPS_PORT": "443",
        "NGINX_S3_PORT": "9443",
        "STUDIO_S3_UPSTREAM": "server s3:9000;",
        "NGINX_CERT_DIR": "/etc/nginx/certs",
        "STUDIO_X_ACCEL_REDIRECT_PREFIX": "/protected-media/",
        "STUDIO_MEDIA_ROOT": "/data/media",
        "NGINX_ACCESS_LOG": "/dev/stdout",
    }
    conf = scaleout.render_template(ROOT / "deploy" / "nginx" / "studio.conf.template", values)
    # Every variable is filled (the comments name them).
    assert not [line for line in conf.splitlines() if "${" in line and not line.lstrip().startswith("#")]
    assert "server 127.0.0.1:8001; server 127.0.0.1:8002;" in conf
    assert "location /protected-media/ {\n        internal;\n        alias /data/media/;" in conf
    # nginx's own variables are left for nginx.
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in conf
    assert "/hooks/evolink/[redacted]" in conf
