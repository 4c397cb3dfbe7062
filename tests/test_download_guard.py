"""Saving a result: only public https addresses, checked where the socket opens; bounded in size and
time; a real video or nothing, saved whole through the storage API."""

from __future__ import annotations

import ipaddress
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from django.core.files.storage import default_storage

from studio.lib import safehttp
from studio.lib.safehttp import UrlGuard
from studio.videos import storage


@pytest.fixture
def media(settings) -> Path:
    return Path(settings.MEDIA_ROOT)


def leftovers(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


def fetch(url: str, media: Path, **options) -> Path:
    """storage.fetch into a file under media/tmp, as store_result does; returns the file."""
    path = media / "tmp" / "test.mp4.part"
    path.parent.mkdir(parents=True, exist_ok=True)
    options.setdefault("max_bytes", 10_000_000)
    storage.fetch(url, path, **options)
    return path


class Handler(BaseHTTPRequestHandler):
    """Routes: /redirect?to=<url>, /loop, /big-no-length, /trickle, /text, /gone, /busy, /video."""

    protocol_version = "HTTP/1.0"  # a body without Content-Length ends when the connection closes
    routes: dict = {}

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Host")))
        path, _, query = self.path.partition("?")
        if path == "/redirect":
            self.send_response(302)
            self.send_header("Location", query.removeprefix("to="))
            self.end_headers()
        elif path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
        elif path == "/big-no-length":
            self.send_response(200)
            self.end_headers()
            chunk = b"\0" * 65536
            try:
                for _ in range(64):  # 4 MB, no Content-Length
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif path == "/trickle":
            # 1 KB every 200 ms, for ever: every read is well inside the read timeout.
            self.send_response(200)
            self.end_headers()
            try:
                while not self.server.stopping.is_set():
                    self.wfile.write(b"\0" * 1024)
                    self.wfile.flush()
                    time.sleep(0.2)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif path == "/text":
            body = b"<html>this is not a video</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif path == "/gone":
            self.send_response(410)
            self.end_headers()
        elif path == "/busy":
            self.send_response(503)
            self.end_headers()
        elif path == "/video":
            body = self.server.video.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_response(404)
            self.end_headers()


@pytest.fixture(scope="module")
def sample_video(tmp_path_factory) -> Path:
    from studio.demoprovider import render_video

    path = tmp_path_factory.mktemp("video") / "sample.mp4"
    render_video(path, prompt="a sample", duration=3, aspect_ratio="16:9")
    return path


@pytest.fixture
def server(sample_video):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.seen = []
    httpd.video = sample_video
    httpd.stopping = threading.Event()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.stopping.set()
    httpd.shutdown()
    httpd.server_close()


@dataclass(frozen=True)
class FakeDNS(UrlGuard):
    """A guard whose names resolve from a table, and which treats `public` addresses as public.

    It lets plain-http servers on loopback stand in for a CDN on the internet.
    """

    table: dict = field(default_factory=dict)
    public: tuple = ()

    def resolve(self, host, port):
        return [ipaddress.ip_address(a) for a in self.table[host]]

    def allows(self, address):
        return str(address) in self.public or super().allows(address)


def fake_cdn(**table) -> FakeDNS:
    return FakeDNS(allow_http=True, table=table, public=("127.0.0.1",))


# --- Addresses ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 - an address under test, not a binding
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:8.8.8.8",
        "2002:7f00:1::",
    ],
)
def test_non_public_addresses_are_refused(address):
    assert not safehttp.is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "151.101.1.69", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert safehttp.is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/video.mp4",  # not https
        "ftp://example.com/video.mp4",
        "file:///etc/passwd",
        "https://127.0.0.1/video.mp4",
        "https://localhost/video.mp4",
        "https://10.0.0.8/video.mp4",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/video.mp4",
        "https://[::ffff:127.0.0.1]/video.mp4",
        "https://user:pass@example.com/video.mp4",
    ],
)
def test_unsafe_result_urls_are_refused_before_connecting(url, media):
    with pytest.raises(storage.UnsafeResultURL):
        fetch(url, media, guard=UrlGuard())
    assert leftovers(media) == []


def test_a_name_that_resolves_to_any_private_address_is_refused(media):
    guard = FakeDNS(table={"cdn.example": ["8.8.8.8", "10.0.0.1"]})
    with pytest.raises(storage.UnsafeResultURL, match="non-public address"):
        fetch("https://cdn.example/video.mp4", media, guard=guard, max_bytes=1000)


def test_loopback_is_allowed_when_private_results_are(server, media):
    url = f"http://127.0.0.1:{server.server_port}/video"
    path = fetch(url, media, guard=UrlGuard(allow_private=True))
    assert path.read_bytes() == server.video.read_bytes()


def test_it_connects_to_the_address_it_checked_with_the_real_host_name(server, media):
    # "cdn.test" does not exist in real DNS: success proves the checked address was used.
    guard = fake_cdn(**{"cdn.test": ["127.0.0.1"]})
    path = fetch(f"http://cdn.test:{server.server_port}/video", media, guard=guard)
    assert path.stat().st_size == server.video.stat().st_size
    assert server.seen == [("/video", f"cdn.test:{server.server_port}")]


def test_a_redirect_to_a_private_address_is_refused(server, media):
    guard = fake_cdn(**{"cdn.test": ["127.0.0.1"], "intranet.test": ["10.0.0.8"]})
    url = f"http://cdn.test:{server.server_port}/redirect?to=http://intranet.test/admin"
    with pytest.raises(storage.UnsafeResultURL, match="non-public"):
        fetch(url, media, guard=guard)
    assert leftovers(media) == []


def test_plain_http_is_refused_for_real_results_at_every_hop():
    # The check runs on each request httpx sends, redirects included.
    with pytest.raises(safehttp.UnsafeURL, match="not https"):
        UrlGuard().check_request(httpx.Request("GET", "http://cdn.example/video.mp4"))
    UrlGuard().check_request(httpx.Request("GET", "https://cdn.example/video.mp4"))


def test_a_redirect_to_plain_http_is_refused(server, media):
    guard = FakeDNS(table={"cdn.test": ["127.0.0.1"]}, public=("127.0.0.1",))
    with pytest.raises(storage.UnsafeResultURL, match="not https"):
        fetch(f"http://cdn.test:{server.server_port}/redirect?to=/video", media, guard=guard)


def test_redirects_are_followed_and_limited(server, media):
    guard = fake_cdn(**{"cdn.test": ["127.0.0.1"]})
    base = f"http://cdn.test:{server.server_port}"
    path = fetch(f"{base}/redirect?to=/video", media, guard=guard)
    assert path.stat().st_size == server.video.stat().st_size
    with pytest.raises(storage.UnsafeResultURL, match="redirected more than"):
        fetch(f"{base}/loop", media, guard=guard)
    assert leftovers(media) == []


# --- Size, status and content --------------------------------------------------------


def store(url: str, *, allow_private: bool = True) -> storage.StoredVideo:
    return storage.store_result(
        url,
        storage=default_storage,
        video_name="v/x.mp4",
        poster_name="p/x.jpg",
        tmp_name="test_1",
        allow_private=allow_private,
    )


def test_an_oversize_result_is_aborted_by_its_declared_length(server, media):
    guard = UrlGuard(allow_private=True)
    with pytest.raises(storage.ResultTooLarge):
        fetch(f"http://127.0.0.1:{server.server_port}/video", media, guard=guard, max_bytes=1000)
    assert leftovers(media) == []


def test_an_oversize_result_without_a_length_is_aborted_while_streaming(server, media):
    guard = UrlGuard(allow_private=True)
    with pytest.raises(storage.ResultTooLarge):
        fetch(f"http://127.0.0.1:{server.server_port}/big-no-length", media, guard=guard, max_bytes=1_000_000)
    assert leftovers(media) == []


def test_an_expired_link_and_a_busy_server_are_told_apart(server, media):
    guard = UrlGuard(allow_private=True)
    with pytest.raises(storage.ResultGone) as gone:
        fetch(f"http://127.0.0.1:{server.server_port}/gone", media, guard=guard, max_bytes=1000)
    assert gone.value.status == 410
    with pytest.raises(storage.DownloadFailed) as busy:
        fetch(f"http://127.0.0.1:{server.server_port}/busy", media, guard=guard, max_bytes=1000)
    assert busy.value.permanent is False
    assert leftovers(media) == []


def test_a_file_that_is_not_a_video_is_refused_and_removed(server, media):
    url = f"http://127.0.0.1:{server.server_port}/text"
    with pytest.raises(storage.NotAVideo):
        store(url)
    assert leftovers(media) == []


def test_a_video_is_probed_placed_and_given_a_poster(server, media):
    url = f"http://127.0.0.1:{server.server_port}/video"
    stored = store(url)
    assert (stored.info.width, stored.info.height, stored.info.has_audio) == (1280, 720, True)
    assert stored.info.duration == pytest.approx(3, abs=0.2)
    assert sorted(str(p.relative_to(media)) for p in leftovers(media)) == ["p/x.jpg", "v/x.mp4"]
    from PIL import Image

    with Image.open(media / "p/x.jpg") as poster:
        assert poster.size == (1280, 720)


def test_a_refused_result_url_never_reaches_the_network(server):
    with pytest.raises(storage.UnsafeResultURL):
        store(f"http://127.0.0.1:{server.server_port}/video", allow_private=False)
    assert server.seen == []


def test_a_trickling_server_cannot_hold_a_download_past_its_deadline(server, media, settings):
    # 20 KB allowed at no less than 10 KB/s: 2 s in all, though 1 KB comes every 200 ms.
    settings.STUDIO_DOWNLOAD_MIN_KBPS = 10
    with pytest.raises(storage.DownloadFailed, match="too slowly") as caught:
        fetch(
            f"http://127.0.0.1:{server.server_port}/trickle",
            media,
            guard=UrlGuard(allow_private=True),
            max_bytes=20 * 1024,
        )
    assert caught.value.permanent is False
    assert leftovers(media) == []


@pytest.mark.parametrize("url", ["https://127.0.0.1:99999/x", "https://[::1/x", "https://cdn.test:0/x"])
def test_a_malformed_result_url_is_a_clear_permanent_error(url, media):
    with pytest.raises(storage.StorageError) as caught:
        fetch(url, media, guard=FakeDNS(table={"cdn.test": ["8.8.8.8"]}))
    assert caught.value.permanent
    assert type(caught.value) in (storage.StorageError, storage.UnsafeResultURL)
    assert leftovers(media) == []


def test_a_redirect_to_a_bad_port_is_a_clear_permanent_error(server, media):
    url = f"http://127.0.0.1:{server.server_port}/redirect?to=http://127.0.0.1:99999/x"
    with pytest.raises(storage.StorageError, match="not a valid URL") as caught:
        fetch(url, media, guard=UrlGuard(allow_private=True))
    assert caught.value.permanent
    assert leftovers(media) == []


def test_a_file_system_save_is_a_rename_so_no_half_file_is_ever_visible(media):
    tmp = storage.tmp_dir(default_storage)
    tmp.mkdir(parents=True)
    path = tmp / "whole.mp4.part"
    path.write_bytes(b"x" * 100_000)
    inode = path.stat().st_ino
    name = storage.place(default_storage, path, "v/whole.mp4")
    assert name == "v/whole.mp4" and not path.exists()
    assert os.stat(media / name).st_ino == inode  # moved, not copied


def test_temporary_files_are_removed_unless_kept(media):
    tmp = media / "tmp"
    tmp.mkdir(parents=True)
    for name in ("live_1.mp4.part", "live_1.jpg.part", "dead_2.mp4.part", "download-old.part"):
        (tmp / name).write_bytes(b"x")
    assert storage.clean_tmp(default_storage, keep={"live_1"}.__contains__) == 2
    assert sorted(p.name for p in leftovers(media)) == ["live_1.jpg.part", "live_1.mp4.part"]
