"""Operations: /healthz, the sweeper's heartbeat, housekeeping on a schedule, JSON logs and
rotating the secret key."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from axes.models import AccessAttempt, AccessLog
from django.contrib.auth.tokens import default_token_generator
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.files.storage import FileSystemStorage
from django.core.management import call_command
from django.utils import timezone

from studio.accounts.models import Invitation
from studio.lib import crypto
from studio.ops import health, heartbeat, housekeeping
from studio.ops.models import Chore, Heartbeat
from studio.ops.sweeper import SweeperChores
from studio.videos import keys, services
from studio.videos.models import Generation, Status
from tests import s3 as s3_fixtures
from tests.factories import make_generation

s3_server, s3 = s3_fixtures.s3_server, s3_fixtures.s3
ROOT = Path(__file__).resolve().parent.parent
OLD_KEY = "the-old-secret-key-" + "x" * 40
NEW_KEY = "the-new-secret-key-" + "y" * 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _redis_is_up() -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", 6379)) == 0


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "STUDIO_", "DATABASE_URL", "REDIS_URL", "EVOLINK_"))
    }
    env.update(extra)
    return env


# --- /healthz ------------------------------------------------------------------------


def healthz(client, **extra):
    answer = client.get("/healthz", **extra)
    return answer, json.loads(answer.content)


def test_healthz_answers_200_with_each_check_without_a_session(client, db):
    heartbeat.beat(heartbeat.SWEEPER)
    answer, body = healthz(client)
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/json"
    assert answer["Cache-Control"] == "no-store"
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "storage", "sweep"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["cache"]["skipped"]  # the per-process memory cache: nothing shared to check
    assert body["checks"]["sweep"]["age_seconds"] < 60
    # No session, no cookie of any kind, no CSRF token.
    assert not answer.cookies
    assert Session.objects.count() == 0
    assert client.get("/healthz/").status_code == 200


def test_healthz_needs_no_allowed_host_and_no_https(client, db, settings):
    """A probe on the container's own address, over plain http, behind a proxy doing TLS."""
    heartbeat.beat(heartbeat.SWEEPER)
    settings.ALLOWED_HOSTS = ["studio.example.org"]
    settings.SECURE_SSL_REDIRECT = True
    answer, body = healthz(client, HTTP_HOST="10.0.0.7:8000")
    assert answer.status_code == 200, body
    # Everything else still gets the host check and the redirect.
    assert client.get("/login/", HTTP_HOST="10.0.0.7:8000").status_code == 400
    assert client.get("/login/", HTTP_HOST="studio.example.org").status_code == 301


def test_healthz_head_and_other_methods(client, db):
    heartbeat.beat(heartbeat.SWEEPER)
    head = client.head("/healthz")
    assert head.status_code == 200
    assert head.content == b""
    post = client.post("/healthz")
    assert post.status_code == 405
    assert post["Allow"] == "GET, HEAD"


def test_healthz_fails_without_a_recent_sweep(client, db, settings):
    answer, body = healthz(client)
    assert answer.status_code == 503
    assert body["status"] == "failing"
    assert body["checks"]["sweep"] == {
        "ok": False,
        "error": "no sweeper has run yet (start `manage.py sweep`)",
        "max_age_seconds": 300,
        "age_seconds": None,
        "ms": body["checks"]["sweep"]["ms"],
    }
    assert body["checks"]["database"]["ok"]
    heartbeat.beat(heartbeat.SWEEPER, now=timezone.now() - timedelta(seconds=301))
    answer, body = healthz(client)
    assert answer.status_code == 503
    assert body["checks"]["sweep"]["age_seconds"] >= 301
    # 0: the age is shown, never failing.
    settings.STUDIO_HEALTH_SWEEP_MAX_AGE = 0
    answer, body = healthz(client)
    assert answer.status_code == 200
    assert body["checks"]["sweep"]["age_seconds"] >= 301


class _UnreachableStorage(FileSystemStorage):
    def listdir(self, path):
        raise ConnectionError("could not reach https://AKIASECRET:hunter2@bucket.example/")


def test_healthz_fails_when_storage_fails_and_names_no_secret(client, db, settings, caplog):
    heartbeat.beat(heartbeat.SWEEPER)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "tests.test_ops._UnreachableStorage"},
    }
    answer, body = healthz(client)
    assert answer.status_code == 503
    assert body["checks"]["storage"]["ok"] is False
    assert body["checks"]["storage"]["error"] == "ConnectionError"
    assert "hunter2" not in answer.content.decode()
    assert body["checks"]["database"]["ok"]
    # The details are for the log, in one line.
    assert "Health check storage failed: ConnectionError: could not reach" in caplog.text
    assert "Traceback" not in caplog.text
    assert "hunter2" not in caplog.text
    assert "https://AKIASECRET:[redacted]@bucket.example/" in caplog.text


def test_healthz_storage_check_lists_through_the_storage_api(client, db, settings, tmp_path):
    heartbeat.beat(heartbeat.SWEEPER)
    settings.MEDIA_ROOT = tmp_path / "not-made-yet" / "media"  # a fresh install: no folder yet
    answer, body = healthz(client)
    assert answer.status_code == 200, body
    assert not (tmp_path / "not-made-yet").exists()  # a check, not a write


def test_healthz_checks_the_s3_bucket_through_the_storage_api(client, db, settings, s3):
    """Against the loopback S3 server: one listing under the prefix, no object written."""
    heartbeat.beat(heartbeat.SWEEPER)
    answer, body = healthz(client)
    assert answer.status_code == 200, body
    assert body["checks"]["storage"]["ok"] is True
    assert s3.keys() == []
    # A bucket that is not there (a typo in STUDIO_S3_BUCKET, a deleted bucket) fails it.
    options = {**s3.options, "bucket_name": f"no-such-bucket-{uuid.uuid4().hex[:8]}"}
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": s3_fixtures.BACKEND, "OPTIONS": options}}
    answer, body = healthz(client)
    assert answer.status_code == 503
    assert body["checks"]["storage"] == {
        "ok": False,
        "error": "NoSuchBucket",
        "ms": body["checks"]["storage"]["ms"],
    }
    assert "testing" not in answer.content.decode()  # the access keys


def test_healthz_fails_when_the_redis_cache_is_down(client, db, settings):
    heartbeat.beat(heartbeat.SWEEPER)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://:hunter2@127.0.0.1:{free_port()}/0",
        }
    }
    answer, body = healthz(client)
    assert answer.status_code == 503
    assert body["checks"]["cache"]["ok"] is False
    assert body["checks"]["cache"]["error"] == "ConnectionError"
    assert "hunter2" not in answer.content.decode()


@pytest.mark.skipif(not _redis_is_up(), reason="no Redis server on 127.0.0.1:6379")
def test_healthz_checks_a_real_redis_cache(client, db, settings):
    heartbeat.beat(heartbeat.SWEEPER)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/14",
            "KEY_PREFIX": f"test-ops-{uuid.uuid4().hex}",
        }
    }
    answer, body = healthz(client)
    assert answer.status_code == 200, body
    assert body["checks"]["cache"]["ok"] is True
    assert "skipped" not in body["checks"]["cache"]


# --- The sweeper's heartbeat and the housekeeping -------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_sweeper_records_its_heartbeat_and_healthz_reads_it(client):
    assert health.check_sweep.__name__  # /healthz fails before any sweeper ran
    assert client.get("/healthz").status_code == 503
    stop = threading.Event()
    sweeper = threading.Thread(target=lambda: services.run_sweeper(stop=stop, interval=3600, threads=1))
    sweeper.start()
    try:
        deadline = time.monotonic() + 60
        while not Heartbeat.objects.filter(name=heartbeat.SWEEPER).exists():
            assert time.monotonic() < deadline, "no heartbeat"
            time.sleep(0.05)
    finally:
        stop.set()
        sweeper.join(timeout=60)
    assert not sweeper.is_alive()
    beat = Heartbeat.objects.get(name=heartbeat.SWEEPER)
    assert beat.holder == f"{socket.gethostname()}:{os.getpid()}"
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert json.loads(answer.content)["checks"]["sweep"]["ok"]
    # The sweeper took the first housekeeping turn too.
    chore = Chore.objects.get(name=housekeeping.HOUSEKEEPING)
    assert chore.ran_at is not None
    assert chore.due_at > timezone.now() + timedelta(minutes=59)


def test_housekeeping_clears_what_is_past_use_and_keeps_the_rest(db, team_a, alice, settings):
    now = timezone.now()
    # Sessions: one expired, one live.
    expired, live = SessionStore(), SessionStore()
    expired.set_expiry(-10)
    expired.save()
    live.save()
    Session.objects.filter(session_key=expired.session_key).update(expire_date=now - timedelta(days=1))

    # Invitations: kept while recent (the team page lists them), or once accepted.
    def invitation(**fields) -> Invitation:
        return Invitation.objects.create(
            team=team_a, token_hash=uuid.uuid4().hex, email="x@example.org", **fields
        )

    long_expired = invitation(expires=now - timedelta(days=31))
    long_revoked = invitation(revoked=now - timedelta(days=31))
    recently_expired = invitation(expires=now - timedelta(days=2))
    accepted = invitation(expires=now - timedelta(days=60), accepted=now - timedelta(days=61))
    open_one = invitation()

    # django-axes: attempts past the cool-off go; access logs after STUDIO_ACCESS_LOG_KEEP_DAYS.
    def attempt(age: timedelta, username: str) -> AccessAttempt:
        row = AccessAttempt.objects.create(
            username=username, ip_address="127.0.0.1", user_agent="t", failures_since_start=1
        )
        AccessAttempt.objects.filter(pk=row.pk).update(attempt_time=now - age)
        return row

    stale, fresh = attempt(timedelta(hours=1), "old@example.org"), attempt(timedelta(minutes=1), "new@e.org")
    old_log = AccessLog.objects.create(username="a", ip_address="127.0.0.1", user_agent="t")
    new_log = AccessLog.objects.create(username="b", ip_address="127.0.0.1", user_agent="t")
    AccessLog.objects.filter(pk=old_log.pk).update(attempt_time=now - timedelta(days=91))

    # A temporary download file no claim is writing.
    tmp = Path(settings.MEDIA_ROOT) / "tmp"
    tmp.mkdir(parents=True)
    (tmp / f"{uuid.uuid4()}_123.part").write_bytes(b"x")

    results = housekeeping.run()
    assert results == {"sessions": 1, "invitations": 2, "sign_in_records": 2, "tmp_files": 1}
    assert list(Session.objects.values_list("session_key", flat=True)) == [live.session_key]
    assert set(Invitation.objects.values_list("pk", flat=True)) == {
        recently_expired.pk,
        accepted.pk,
        open_one.pk,
    }
    assert not Invitation.objects.filter(pk__in=[long_expired.pk, long_revoked.pk]).exists()
    assert list(AccessAttempt.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert not AccessAttempt.objects.filter(pk=stale.pk).exists()
    assert list(AccessLog.objects.values_list("pk", flat=True)) == [new_log.pk]
    assert list(tmp.iterdir()) == []
    assert housekeeping.run() == {"sessions": 0, "invitations": 0, "sign_in_records": 0, "tmp_files": 0}


def test_one_failing_job_does_not_stop_the_others(db, monkeypatch, caplog):
    def broken(now):
        raise RuntimeError("boom")

    monkeypatch.setitem(housekeeping.JOBS, "invitations", broken)
    results = housekeeping.run()
    assert results["invitations"] == "failed"
    assert results["sessions"] == 0
    assert results["tmp_files"] == 0
    assert "Housekeeping: invitations failed" in caplog.text


def test_the_housekeeping_command(db, capsys, settings):
    call_command("housekeeping")
    out = capsys.readouterr().out
    assert "sessions: 0" in out and "invitations: 0" in out and "tmp files: 0" in out
    call_command("housekeeping", "--if-due")
    assert "sessions: 0" in capsys.readouterr().out
    call_command("housekeeping", "--if-due")
    assert "Not due yet" in capsys.readouterr().out


def test_a_turn_is_taken_once_per_interval(db):
    now = timezone.now()
    every = timedelta(hours=1)
    assert housekeeping.take_turn(every, now=now)
    assert not housekeeping.take_turn(every, now=now)
    assert not housekeeping.take_turn(every, now=now + timedelta(minutes=59))
    assert housekeeping.take_turn(every, now=now + timedelta(minutes=61))


@pytest.mark.django_db(transaction=True)
def test_several_sweepers_at_once_run_the_housekeeping_once(monkeypatch):
    """As on several machines: each sweeper process asks for the turn at the same moment."""
    runs: list[str] = []
    monkeypatch.setattr(housekeeping, "run", lambda **kw: runs.append(threading.current_thread().name))
    sweepers = [SweeperChores() for _ in range(4)]
    start = threading.Barrier(len(sweepers))

    def tick(chores: SweeperChores) -> None:
        from django.db import connection

        start.wait()
        try:
            chores.tick()
        finally:
            connection.close()

    threads = [threading.Thread(target=tick, args=(chores,)) for chores in sweepers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(runs) == 1
    # Each asks again a minute later at the earliest, and then finds it not due for an hour.
    for chores in sweepers:
        chores.tick()
    assert len(runs) == 1


def test_housekeeping_can_be_turned_off(db, settings, monkeypatch):
    settings.STUDIO_HOUSEKEEPING_INTERVAL = 0
    runs = []
    monkeypatch.setattr(housekeeping, "run", lambda **kw: runs.append(1))
    SweeperChores().tick()
    assert runs == []
    assert not Chore.objects.exists()
    assert Heartbeat.objects.filter(name=heartbeat.SWEEPER).exists()  # the heartbeat goes on


# --- JSON logs --------------------------------------------------------------------------

_LOGGING_SCRIPT = """
import logging, django
django.setup()
log = logging.getLogger("studio.test")
log.info("Callback at /hooks/evolink/abc/sEcReT1/ done")
try:
    raise ValueError("failed at /invite/sEcReT2/")
except ValueError:
    log.exception("It broke on /signup/?invite=sEcReT3")
logging.getLogger("django.server").info('"GET /invite/sEcReT4/ HTTP/1.1" 404 0')
"""


def _run_logging(tmp_path: Path, log_format: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", _LOGGING_SCRIPT],
        cwd=ROOT,
        env=_clean_env(
            DJANGO_SETTINGS_MODULE="studio.settings",
            STUDIO_DATA_DIR=str(tmp_path),
            STUDIO_LOG_FORMAT=log_format,
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_json_logs_are_one_object_per_line_and_redacted(tmp_path):
    run = _run_logging(tmp_path, "json")
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stderr.splitlines()]
    assert [(line["level"], line["logger"]) for line in lines] == [
        ("INFO", "studio.test"),
        ("ERROR", "studio.test"),
        ("INFO", "django.server"),
    ]
    info, error, server = lines
    assert set(info) == {"time", "level", "logger", "message"}
    assert info["time"].endswith("Z") and "T" in info["time"]
    assert info["message"] == "Callback at /hooks/evolink/[redacted] done"
    assert error["message"] == "It broke on /signup/?invite=[redacted]"
    assert error["exception"].startswith("Traceback (most recent call last):")
    assert "ValueError: failed at /invite/[redacted]" in error["exception"]
    assert server["message"] == '"GET /invite/[redacted] HTTP/1.1" 404 0'
    assert "sEcReT" not in run.stderr


def test_plain_logs_stay_the_default_and_a_wrong_format_is_refused(tmp_path):
    plain = _run_logging(tmp_path, "plain")
    assert plain.returncode == 0, plain.stderr
    assert " INFO studio.test: Callback at /hooks/evolink/[redacted] done" in plain.stderr
    assert "sEcReT" not in plain.stderr
    wrong = _run_logging(tmp_path, "xml")
    assert wrong.returncode != 0
    assert "STUDIO_LOG_FORMAT must be plain or json" in wrong.stderr


def test_gunicorn_writes_json_lines_too(tmp_path):
    """gunicorn as runstudio and the image run it (gunicorn.conf.py), with STUDIO_LOG_FORMAT=json."""
    port = free_port()
    (tmp_path / "static").mkdir()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--workers", "1"],
        cwd=ROOT,
        env=_clean_env(
            STUDIO_DATA_DIR=str(tmp_path / "data"),
            STUDIO_STATIC_ROOT=str(tmp_path / "static"),
            STUDIO_BIND=f"127.0.0.1:{port}",
            STUDIO_LOG_FORMAT="json",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.2)
        # No migrations in this data folder: the sweep check fails, the rest answers.
        assert answer.status_code == 503
        assert json.loads(answer.text)["checks"]["database"]["ok"]
        # The image's HEALTHCHECK says so too (it finds the port in STUDIO_BIND).
        probe = subprocess.run(
            [sys.executable, "-m", "studio.ops.probe"],
            cwd=ROOT,
            env=_clean_env(STUDIO_BIND=f"0.0.0.0:{port}"),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert probe.returncode == 1
        assert probe.stdout.startswith("503: {")
        # No tables either: a 500 whose traceback is logged, redacted, as JSON.
        assert httpx.get(f"http://127.0.0.1:{port}/signup/?invite=sEcReTtOkEn").status_code == 500
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    loggers = {line["logger"] for line in lines}
    assert {"gunicorn.error", "gunicorn.access", "django.request"} <= loggers
    access = [line["message"] for line in lines if line["logger"] == "gunicorn.access"]
    assert any('"GET /healthz HTTP/1.1" 503' in message for message in access)
    assert any("/signup/?invite=[redacted]" in message for message in access)
    assert not any("/healthz" in line["message"] for line in lines if line["logger"] == "django.request")
    failure = next(line for line in lines if line["logger"] == "django.request")
    assert failure["message"] == "Internal Server Error: /signup/"
    assert failure["level"] == "ERROR"
    assert "Traceback" in failure["exception"]
    assert "sEcReTtOkEn" not in output


# --- Rotating the secret key ------------------------------------------------------------


def _rotate(settings) -> None:
    settings.SECRET_KEY = NEW_KEY
    settings.SECRET_KEY_FALLBACKS = [OLD_KEY]


def test_secret_key_fallbacks_come_from_the_environment(tmp_path):
    script = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY_FALLBACKS)"
    run = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=_clean_env(
            DJANGO_SETTINGS_MODULE="studio.settings",
            STUDIO_DATA_DIR=str(tmp_path),
            STUDIO_SECRET_KEY_FALLBACKS=" old-one , older-one ",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.stdout.strip() == "['old-one', 'older-one']", run.stderr


def test_a_team_key_survives_a_secret_key_rotation_and_is_reencrypted_on_use(db, team_a, settings, caplog):
    settings.SECRET_KEY, settings.STUDIO_ENCRYPTION_KEYS = OLD_KEY, []
    keys.set_team_key(team_a, "sk-team-key-0123456789")
    stored = team_a.api_key_encrypted

    _rotate(settings)
    team_a.refresh_from_db()
    assert keys.team_api_key(team_a) == "sk-team-key-0123456789"
    team_a.refresh_from_db()
    assert team_a.api_key_encrypted != stored  # re-encrypted with the new key, on use
    assert "re-encrypted with the current key" in caplog.text
    assert "sk-team-key-0123456789" not in caplog.text

    # The old key can go now: the stored value is the new key's.
    settings.SECRET_KEY_FALLBACKS = []
    assert keys.team_api_key(team_a) == "sk-team-key-0123456789"
    assert crypto.decrypt_current(team_a.api_key_encrypted) == ("sk-team-key-0123456789", True)


def test_without_the_fallback_the_old_team_key_cannot_be_read(db, team_a, settings):
    settings.SECRET_KEY, settings.STUDIO_ENCRYPTION_KEYS = OLD_KEY, []
    keys.set_team_key(team_a, "sk-team-key-0123456789")
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW_KEY, []
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(team_a.api_key_encrypted)
    with pytest.raises(keys.EvolinkError) as raised:
        keys.team_api_key(team_a)
    assert raised.value.type == "key_unavailable"


def test_rotatekeys_reencrypts_what_a_fallback_key_encrypted(db, team_a, team_b, settings):
    settings.SECRET_KEY, settings.STUDIO_ENCRYPTION_KEYS = OLD_KEY, []
    keys.set_team_key(team_a, "sk-team-a-0123456789")
    keys.set_team_key(team_b, "sk-team-b-0123456789")
    _rotate(settings)
    call_command("rotatekeys")
    settings.SECRET_KEY_FALLBACKS = []
    for team, key in ((team_a, "sk-team-a-0123456789"), (team_b, "sk-team-b-0123456789")):
        team.refresh_from_db()
        assert crypto.decrypt_current(team.api_key_encrypted) == (key, True)


def test_explicit_encryption_keys_still_come_first(db, team_a, settings):
    from cryptography.fernet import Fernet

    settings.SECRET_KEY, settings.STUDIO_ENCRYPTION_KEYS = OLD_KEY, []
    keys.set_team_key(team_a, "sk-team-key-0123456789")
    _rotate(settings)
    settings.STUDIO_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    plain, current = crypto.decrypt_current(team_a.api_key_encrypted)
    assert (plain, current) == ("sk-team-key-0123456789", False)
    assert crypto.decrypt_current(crypto.rotate(team_a.api_key_encrypted)) == (plain, True)


def test_callbacks_in_flight_survive_a_secret_key_rotation(client, db, team_a, alice, settings, monkeypatch):
    monkeypatch.setattr("studio.videos.services.async_task", lambda *args, **kw: None)
    settings.SECRET_KEY = OLD_KEY
    generation = make_generation(team_a, alice, status=Status.PROCESSING, task_id="task-unified-1-abc")
    old_token = services.callback_token(generation)
    Generation.objects.filter(pk=generation.pk).update(callback_token_hash=services.token_hash(old_token))
    generation.refresh_from_db()

    _rotate(settings)
    # The provider calls back with the URL it was given before the rotation.
    answer = client.post(f"/hooks/evolink/{generation.code}/{old_token}/", "{}", "application/json")
    assert answer.status_code == 204
    assert services.handle_callback(code=str(generation.code), token=old_token, body=b"{}")
    # A create sent again for it carries the very same callback URL (the same body).
    assert services.callback_token(generation) == old_token
    # A new generation gets a token of the new key; a wrong token is still refused.
    fresh = make_generation(team_a, alice)
    new_token = services.callback_token(fresh)
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD_KEY, []
    assert services.callback_token(fresh) != new_token
    _rotate(settings)
    assert not services.handle_callback(code=str(generation.code), token=new_token, body=b"{}")


def test_sessions_and_password_reset_links_survive_a_secret_key_rotation(client, db, alice, settings):
    from django.test import Client

    settings.SECRET_KEY = OLD_KEY
    client.force_login(alice)
    idle = Client()
    idle.force_login(alice)
    reset_token = default_token_generator.make_token(alice)
    assert client.get("/").status_code == 200

    _rotate(settings)
    assert client.get("/").status_code == 200  # still signed in; Django moves the session to the new key
    assert default_token_generator.check_token(alice, reset_token)

    settings.SECRET_KEY_FALLBACKS = []
    assert not default_token_generator.check_token(alice, reset_token)
    assert client.get("/").status_code == 200  # it was used while the old key was a fallback
    assert idle.get("/").status_code == 302  # one not used since is signed out with the old key gone
