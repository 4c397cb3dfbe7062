"""The media views under the web server runstudio starts (gunicorn.conf.py), over real HTTP.

gunicorn's asyncio worker with the studio on a few threads (studio.lib.wsgi_bridge): the
access checks, Range, 416 and If-Range exactly as tests/test_media.py pins them in-process,
a deleted video or a revoked membership answering 404 at once, and people who stop reading
a video holding no thread (pages still answer while more of them stall than there are threads).
One gunicorn (one worker process, 4 threads) serves the whole module, on the test database.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.db import connection
from django.test import Client
from django.urls import reverse

from studio.accounts.management.commands.runstudio import gunicorn_command
from studio.videos.review import delete_generation
from tests.conftest import PASSWORD
from tests.factories import make_ready_generation

ROOT = Path(__file__).resolve().parent.parent
THREADS = 4  # studio.wsgi.WEB_THREADS, one worker process here


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, tmp_path_factory):
    """gunicorn as runstudio starts it (1 worker), on the test database; yields (base URL, data dir, log)."""
    data = tmp_path_factory.mktemp("server-data")
    log = data / "gunicorn.log"
    port = _free_port()
    with django_db_blocker.unblock():
        url = _database_url()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "STUDIO_DATA_DIR": str(data),
        "DJANGO_SECRET_KEY": django_settings.SECRET_KEY,
        # Plain static storage: the pages here need no collectstatic manifest.
        "DJANGO_SETTINGS_MODULE": "tests.server_settings",
        "PYTHONPATH": str(ROOT),
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            gunicorn_command("127.0.0.1", port, 1), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/login/", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start:\n" + log.read_text()) from None
                time.sleep(0.1)
        yield base, data, log
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def media(server, settings, transactional_db):
    """This test's files where the server reads them; the rows committed for it to see."""
    settings.MEDIA_ROOT = server[1] / "media"
    return server


def _cookie(user) -> dict[str, str]:
    client = Client()
    client.force_login(user)
    return {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}


def _video(generation) -> str:
    return reverse("generation_video", args=[generation.code])


def test_whole_file_ranges_416_and_if_range_over_http(media, team_a, alice):
    base = media[0]
    ready = make_ready_generation(team_a, alice)
    data = ready.video.open("rb").read()
    size = len(data)
    with httpx.Client(base_url=base, headers=_cookie(alice), timeout=30) as http:
        whole = http.get(_video(ready))
        assert whole.status_code == 200
        assert whole.content == data
        assert whole.headers["content-length"] == str(size)
        assert whole.headers["accept-ranges"] == "bytes"
        assert whole.headers["content-type"] == "video/mp4"
        assert "private" in whole.headers["cache-control"]
        assert "media-src 'self'" in whole.headers["content-security-policy"]
        etag = whole.headers["etag"]

        part = http.get(_video(ready), headers={"Range": "bytes=100-1099"})
        assert part.status_code == 206
        assert part.headers["content-range"] == f"bytes 100-1099/{size}"
        assert part.content == data[100:1100]

        tail = http.get(_video(ready), headers={"Range": "bytes=-500"})
        assert (tail.status_code, tail.content) == (206, data[-500:])

        beyond = http.get(_video(ready), headers={"Range": f"bytes={size}-"})
        assert beyond.status_code == 416
        assert beyond.headers["content-range"] == f"bytes */{size}"

        same = http.get(_video(ready), headers={"Range": "bytes=0-9", "If-Range": etag})
        assert (same.status_code, same.content) == (206, data[:10])
        changed = http.get(_video(ready), headers={"Range": "bytes=0-9", "If-Range": '"other"'})
        assert (changed.status_code, changed.content) == (200, data)

        assert http.get(_video(ready), headers={"If-None-Match": etag}).status_code == 304
        head = http.head(_video(ready))
        assert (head.status_code, head.headers["content-length"], head.content) == (200, str(size), b"")


def test_another_team_signed_out_revoked_and_deleted_get_no_bytes(media, team_a, alice, bob, charlie):
    base = media[0]
    ready = make_ready_generation(team_a, alice)
    url = _video(ready)

    def get(path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        # One request each, no cookie jar: each person sends only their own session.
        return httpx.get(base + path, headers={"Range": "bytes=0-9", **(headers or {})}, timeout=30)

    assert get(url, _cookie(charlie)).status_code == 404
    assert get(reverse("generation_poster", args=[ready.code]), _cookie(charlie)).status_code == 404
    signed_out = get(url)
    assert signed_out.status_code == 302
    assert signed_out.headers["location"].startswith(reverse("login"))

    bob_cookie = _cookie(bob)
    assert get(url, bob_cookie).status_code == 206
    bob.memberships.all().delete()
    assert get(url, bob_cookie).status_code in (302, 404)

    alice_cookie = _cookie(alice)
    assert get(url, alice_cookie).status_code == 206
    delete_generation(generation=ready)
    assert get(url, alice_cookie).status_code == 404


def test_people_who_stop_reading_a_video_hold_no_thread(media, team_a, alice):
    """More stalled viewers than the worker has threads, and a page still answers.

    Each viewer asks for a large file and stops reading after its first bytes, with a
    small receive window, so its answer stays unfinished on the server. Under gunicorn's
    threaded worker each such viewer held a thread until the end, and the page below
    waited forever (STUDIO_WEB_SERVER=threads shows it).
    """
    base, _data, _log = media
    ready = make_ready_generation(team_a, alice)
    # Far more than loopback's socket buffers hold, so no answer can finish while unread.
    ready.video.storage.delete(ready.video.name)
    ready.video.save("video.mp4", ContentFile(os.urandom(48 * 1024 * 1024)), save=True)
    cookie = _cookie(alice)["Cookie"]
    port = int(base.rsplit(":", 1)[1])
    viewers = []
    try:
        for _ in range(THREADS + 2):
            viewer = socket.socket()
            viewer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
            viewer.connect(("127.0.0.1", port))
            viewer.sendall(
                f"GET {_video(ready)} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n".encode()
            )
            viewer.settimeout(30)
            assert viewer.recv(4096).startswith(b"HTTP/1.1 200")  # it is being sent, then never read
            viewers.append(viewer)
        page = httpx.get(base + "/login/", timeout=30)
        assert page.status_code == 200
        gallery = httpx.get(base + "/", headers={"Cookie": cookie}, timeout=30)
        assert gallery.status_code == 200
    finally:
        for viewer in viewers:
            viewer.close()


def test_the_access_log_keeps_secret_paths_redacted(media):
    base, _data, log = media
    token = "callback-secret-token-4f1e9a"
    httpx.post(base + f"/hooks/evolink/00000000-0000-0000-0000-000000000000/{token}/", timeout=30)
    httpx.get(base + f"/invite/{token}/", timeout=30)
    deadline = time.monotonic() + 10
    while "/invite/" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)  # the access log line is written after the answer
    text = log.read_text()
    assert "/invite/" in text and "/hooks/evolink/" in text
    assert token not in text


def test_a_form_posted_through_the_server_signs_in_and_a_huge_body_is_refused(media, alice):
    """The request body reaches the studio whole (read by the event loop first), within a bound."""
    base = media[0]
    with httpx.Client(base_url=base, timeout=30) as http:
        http.get("/login/")
        answer = http.post(
            "/login/",
            data={
                "username": alice.email,
                "password": PASSWORD,
                "csrfmiddlewaretoken": http.cookies["csrftoken"],
            },
        )
        assert answer.status_code == 302, answer.text[:500]
        assert http.get("/").status_code == 200
        huge = http.post("/login/", content=b"x" * (17 * 1024 * 1024), headers={"Content-Type": "text/plain"})
        assert huge.status_code == 413


def test_a_kept_alive_connection_takes_the_next_range_after_a_streamed_one(media, team_a, alice):
    """A player asks again on the same connection once a range has come in full."""
    base = media[0]
    ready = make_ready_generation(team_a, alice)
    data = ready.video.open("rb").read()
    cookie = _cookie(alice)["Cookie"]
    with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=30) as sock:
        reader = sock.makefile("rb")
        for first in (len(data) - 3000, 0, 1000):
            sock.sendall(
                f"GET {_video(ready)} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n"
                f"Range: bytes={first}-\r\n\r\n".encode()
            )
            status = reader.readline()
            headers = {}
            while (line := reader.readline()) != b"\r\n":
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            assert status.startswith(b"HTTP/1.1 206"), (status, headers)
            assert reader.read(int(headers["content-length"])) == data[first:]
