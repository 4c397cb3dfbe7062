"""Saving a result: only public https addresses, checked at every hop; bounded; a real video or nothing."""

from __future__ import annotations

import ipaddress
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from studio.videos import storage
from studio.videos.storage import UrlGuard


@pytest.fixture
def media(settings) -> Path:
    return Path(settings.MEDIA_ROOT)


def leftovers(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


class Handler(BaseHTTPRequestHandler):
    """Routes: /redirect?to=<url>, /loop, /big-no-length, /text, /video."""

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
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
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
    assert not storage.is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "151.101.1.69", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert storage.is_public_address(ipaddress.ip_address(address))


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
        storage.fetch(url, guard=UrlGuard(), max_bytes=10_000_000)
    assert leftovers(media) == []


def test_a_name_that_resolves_to_any_private_address_is_refused(media):
    guard = FakeDNS(table={"cdn.example": ["8.8.8.8", "10.0.0.1"]})
    with pytest.raises(storage.UnsafeResultURL, match="non-public address"):
        storage.fetch("https://cdn.example/video.mp4", guard=guard, max_bytes=1000)


def test_loopback_is_allowed_when_private_results_are(server, media):
    url = f"http://127.0.0.1:{server.server_port}/video"
    path = storage.fetch(url, guard=UrlGuard(allow_private=True), max_bytes=10_000_000)
    assert path.parent == media / "tmp"
    assert path.read_bytes() == server.video.read_bytes()


def test_it_connects_to_the_address_it_checked_with_the_real_host_name(server):
    # "cdn.test" does not exist in real DNS: success proves the checked address was used.
    guard = fake_cdn(**{"cdn.test": ["127.0.0.1"]})
    path = storage.fetch(f"http://cdn.test:{server.server_port}/video", guard=guard, max_bytes=10_000_000)
    assert path.stat().st_size == server.video.stat().st_size
    assert server.seen == [("/video", f"cdn.test:{server.server_port}")]


def test_a_redirect_to_a_private_address_is_refused(server, media):
    guard = fake_cdn(**{"cdn.test": ["127.0.0.1"], "intranet.test": ["10.0.0.8"]})
    url = f"http://cdn.test:{server.server_port}/redirect?to=http://intranet.test/admin"
    with pytest.raises(storage.UnsafeResultURL, match="non-public"):
        storage.fetch(url, guard=guard, max_bytes=10_000_000)
    assert leftovers(media) == []


def test_a_redirect_to_plain_http_is_refused_for_real_results(media):
    guard = UrlGuard()
    with pytest.raises(storage.UnsafeResultURL, match="not https"):
        guard.target("http://cdn.example/video.mp4")


def test_redirects_are_followed_and_limited(server, media):
    guard = fake_cdn(**{"cdn.test": ["127.0.0.1"]})
    base = f"http://cdn.test:{server.server_port}"
    path = storage.fetch(f"{base}/redirect?to=/video", guard=guard, max_bytes=10_000_000)
    assert path.exists()
    with pytest.raises(storage.UnsafeResultURL, match="redirected more than"):
        storage.fetch(f"{base}/loop", guard=guard, max_bytes=10_000_000)
    assert len([p for p in leftovers(media) if p != path]) == 0


# --- Size, status and content --------------------------------------------------------


def test_an_oversize_result_is_aborted_by_its_declared_length(server, media):
    guard = UrlGuard(allow_private=True)
    with pytest.raises(storage.ResultTooLarge):
        storage.fetch(f"http://127.0.0.1:{server.server_port}/video", guard=guard, max_bytes=1000)
    assert leftovers(media) == []


def test_an_oversize_result_without_a_length_is_aborted_while_streaming(server, media):
    guard = UrlGuard(allow_private=True)
    with pytest.raises(storage.ResultTooLarge):
        storage.fetch(
            f"http://127.0.0.1:{server.server_port}/big-no-length", guard=guard, max_bytes=1_000_000
        )
    assert leftovers(media) == []


def test_an_expired_link_and_a_busy_server_are_told_apart(server, media):
    guard = UrlGuard(allow_private=True)
    with pytest.raises(storage.ResultExpired):
        storage.fetch(f"http://127.0.0.1:{server.server_port}/gone", guard=guard, max_bytes=1000)
    with pytest.raises(storage.DownloadFailed) as busy:
        storage.fetch(f"http://127.0.0.1:{server.server_port}/busy", guard=guard, max_bytes=1000)
    assert busy.value.permanent is False
    assert leftovers(media) == []


def test_a_file_that_is_not_a_video_is_refused_and_removed(server, media):
    url = f"http://127.0.0.1:{server.server_port}/text"
    with pytest.raises(storage.NotAVideo):
        storage.store_result(url, video_name="v/x.mp4", poster_name="p/x.jpg", allow_private=True)
    assert leftovers(media) == []


def test_a_video_is_probed_placed_and_given_a_poster(server, media):
    url = f"http://127.0.0.1:{server.server_port}/video"
    stored = storage.store_result(url, video_name="v/x.mp4", poster_name="p/x.jpg", allow_private=True)
    assert (stored.info.width, stored.info.height, stored.info.has_audio) == (1280, 720, True)
    assert stored.info.duration == pytest.approx(3, abs=0.2)
    assert sorted(str(p.relative_to(media)) for p in leftovers(media)) == ["p/x.jpg", "v/x.mp4"]
    from PIL import Image

    with Image.open(media / "p/x.jpg") as poster:
        assert poster.size == (1280, 720)


def test_a_refused_result_url_never_reaches_the_network(server):
    with pytest.raises(storage.UnsafeResultURL):
        storage.store_result(
            f"http://127.0.0.1:{server.server_port}/video",
            video_name="v.mp4",
            poster_name="p.jpg",
            allow_private=False,
        )
    assert server.seen == []


def test_old_temporary_files_are_cleaned(media):
    tmp = media / "tmp"
    tmp.mkdir(parents=True)
    (tmp / "download-old.part").write_bytes(b"x")
    assert storage.clean_tmp(older_than=-1) == 1
    assert leftovers(media) == []
