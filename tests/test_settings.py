"""Configuration from the environment: production checks and loud failures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def manage(*args: str, env: dict[str, str], data_dir: Path) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "STUDIO_", "DATABASE_URL", "REDIS_URL"))
    }
    clean.update({"STUDIO_DATA_DIR": str(data_dir), **env})
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "x" * 20 + "a-long-and-random-production-secret-key-0123456789",
    "DJANGO_ALLOWED_HOSTS": "studio.example.com",
    "STUDIO_PUBLIC_URL": "https://studio.example.com",
    "STUDIO_BEHIND_PROXY": "1",
}


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION, data_dir=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_responses_carry_security_headers(tmp_path):
    code = (
        "from django.test import Client;"
        "r = Client().get('/login/', secure=True, headers={'host': 'studio.example.com'});"
        "print(r.status_code);"
        "print(r.headers['Content-Security-Policy']);"
        "print(r.headers['Strict-Transport-Security'])"
    )
    env = {**PRODUCTION, "STUDIO_STATIC_ROOT": str(tmp_path / "static")}
    assert manage("collectstatic", "--noinput", env=env, data_dir=tmp_path).returncode == 0
    result = manage("shell", "-c", code, env=env, data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    status, csp, hsts = result.stdout.strip().splitlines()[-3:]
    assert status == "200"
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "max-age=31536000" in hsts


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DJANGO_DEBUG", "maybe"),
        ("DATABASE_URL", "nonsense://"),
        ("REDIS_URL", "localhost:6379"),
        ("STUDIO_PUBLIC_URL", "studio.example.com"),
        ("STUDIO_WORKERS", "many"),
    ],
)
def test_a_bad_value_stops_the_studio_and_names_the_variable(tmp_path, name, value):
    result = manage("check", env={name: value}, data_dir=tmp_path)
    assert result.returncode != 0
    assert name in result.stderr


def test_with_no_environment_it_keeps_a_secret_key_and_a_database_in_the_data_folder(tmp_path):
    result = manage("migrate", "--noinput", env={}, data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "studio.sqlite3").exists()
    key = (tmp_path / "secret_key").read_text()
    manage("check", env={}, data_dir=tmp_path)
    assert (tmp_path / "secret_key").read_text() == key
    journal = manage(
        "shell",
        "-c",
        "from django.db import connection; c = connection.cursor(); c.execute('PRAGMA journal_mode'); print(c.fetchone()[0])",
        env={},
        data_dir=tmp_path,
    )
    assert journal.stdout.strip().endswith("wal")
