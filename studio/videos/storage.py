"""Copying a finished video into the studio's own storage, safely.

The provider's result link is a URL the provider chose, valid for 24 hours. The
studio fetches it from its own network, so the link is treated as untrusted:

- https only, and every address it resolves to must be public (no loopback,
  private, link-local, reserved or IPv4-mapped addresses). The connection goes
  to the address that was checked (the name is resolved once; Host and TLS SNI
  keep the real name), so a DNS answer cannot change between check and use.
  Redirects are followed by hand, a few at most, each hop checked the same way.
  The demo provider on loopback is allowed through `allow_private`.
- The body is streamed in chunks to a temporary file under MEDIA_ROOT/tmp, with
  a byte limit; only a complete file that PyAV opens as a video is moved into
  place with os.replace, so the gallery never sees half a file.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import av
import httpx
from django.conf import settings

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
CHUNK_BYTES = 256 * 1024
POSTER_AT_SECONDS = 1.0
TMP_DIR_NAME = "tmp"
USER_AGENT = "OmniStudio/0.1 (result download)"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class StorageError(Exception):
    """Saving the result failed. `permanent` says whether trying again can help."""

    permanent = True

    def __init__(self, message: str, *, user_message: str = "") -> None:
        super().__init__(message)
        self.user_message = user_message or message


class UnsafeResultURL(StorageError):
    pass


class ResultTooLarge(StorageError):
    pass


class NotAVideo(StorageError):
    pass


class ResultExpired(StorageError):
    """403/404/410 on the file: the 24-hour link ran out."""


class DownloadFailed(StorageError):
    """A network failure or a 5xx/429: worth another try later."""

    permanent = False


def is_public_address(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and (address.ipv4_mapped or address.sixtofour):
        return False  # an IPv4 address in disguise: refused outright
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    )


@dataclass(frozen=True)
class UrlGuard:
    """Which result URLs may be fetched. Tests subclass it to fake DNS."""

    allow_private: bool = False
    allow_http: bool = False  # tests of the address checks run plain-http servers on loopback

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise DownloadFailed(f"the result host does not resolve ({exc.__class__.__name__})") from None
        addresses: list[IPAddress] = []
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
            if address not in addresses:
                addresses.append(address)
        return addresses

    def allows(self, address: IPAddress) -> bool:
        return self.allow_private or is_public_address(address)

    def target(self, url: str) -> tuple[httpx.URL, dict[str, str], dict]:
        """Where to connect for url: (URL to request, extra headers, httpx extensions).

        Raises UnsafeResultURL for a scheme or an address that is not allowed.
        """
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme not in ("http", "https") or not host:
            raise UnsafeResultURL(f"the result link is not an http(s) URL: {parts.scheme}:")
        if parts.scheme != "https" and not (self.allow_private or self.allow_http):
            raise UnsafeResultURL("the result link is not https")
        if parts.username or parts.password:
            raise UnsafeResultURL("the result link carries credentials")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        addresses = [literal] if literal else self.resolve(host, port)
        if not addresses:
            raise DownloadFailed("the result host has no address")
        refused = [a for a in addresses if not self.allows(a)]
        if refused:
            raise UnsafeResultURL(f"the result link points at a non-public address ({refused[0]})")
        if self.allow_private:
            # Nothing to pin: any address is fine, connect by name.
            return httpx.URL(url), {}, {}
        address = addresses[0]
        pinned = httpx.URL(url).copy_with(host=str(address))
        netloc = host if parts.port is None else f"{host}:{parts.port}"
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        return pinned, {"Host": netloc}, extensions


def _check_peer(response: httpx.Response, guard: UrlGuard) -> None:
    """Belt and braces: the socket really is connected to an allowed address."""
    stream = response.extensions.get("network_stream")
    if stream is None or guard.allow_private:
        return
    peer = stream.get_extra_info("server_addr")
    if peer:
        address = ipaddress.ip_address(str(peer[0]).split("%")[0])
        if not guard.allows(address):
            raise UnsafeResultURL(f"connected to a non-public address ({address})")


def tmp_dir() -> Path:
    path = Path(settings.MEDIA_ROOT) / TMP_DIR_NAME
    path.mkdir(parents=True, exist_ok=True)
    return path


def fetch(
    url: str,
    *,
    guard: UrlGuard,
    max_bytes: int,
    timeout: float = 30.0,
    transport: httpx.BaseTransport | None = None,
) -> Path:
    """Stream url into a new temporary file under MEDIA_ROOT/tmp and return its path.

    On any failure the temporary file is removed and a StorageError raised.
    """
    fd, name = tempfile.mkstemp(prefix="download-", suffix=".part", dir=tmp_dir())
    path = Path(name)
    try:
        with (
            os.fdopen(fd, "wb") as out,
            httpx.Client(
                timeout=httpx.Timeout(timeout, connect=10.0),
                follow_redirects=False,
                trust_env=False,  # no proxy from the environment: we check the peer ourselves
                transport=transport,
                headers={"User-Agent": USER_AGENT, "Accept": "video/*, */*"},
            ) as client,
        ):
            for _hop in range(MAX_REDIRECTS + 1):
                request_url, headers, extensions = guard.target(url)
                try:
                    with client.stream(
                        "GET", request_url, headers=headers, extensions=extensions
                    ) as response:
                        _check_peer(response, guard)
                        if response.is_redirect:
                            location = response.headers.get("location", "")
                            if not location:
                                raise DownloadFailed("the result link redirected nowhere")
                            url = urljoin(url, location)
                            continue
                        _check_status(response.status_code)
                        _copy(response, out, max_bytes=max_bytes)
                        out.flush()
                        os.fsync(out.fileno())
                        return path
                except httpx.HTTPError as exc:
                    raise DownloadFailed(
                        f"downloading the result failed ({exc.__class__.__name__})"
                    ) from None
            raise UnsafeResultURL(f"the result link redirected more than {MAX_REDIRECTS} times")
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _check_status(status: int) -> None:
    if status == 200:
        return
    if status in (403, 404, 410):
        raise ResultExpired(
            f"the result link answered {status}",
            user_message="The provider's download link has expired (links last 24 hours).",
        )
    if status == 429 or status >= 500:
        raise DownloadFailed(f"the result link answered {status}")
    raise StorageError(f"the result link answered {status}")


def _copy(response: httpx.Response, out, *, max_bytes: int) -> int:
    too_large = ResultTooLarge(
        f"the result is larger than the {max_bytes:,} bytes allowed",
        user_message=f"The video file is larger than the studio accepts ({max_bytes // (1024 * 1024)} MB).",
    )
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    written = 0
    for chunk in response.iter_bytes(CHUNK_BYTES):
        written += len(chunk)
        if written > max_bytes:
            raise too_large
        out.write(chunk)
    return written


@dataclass(frozen=True)
class VideoInfo:
    bytes: int
    width: int
    height: int
    duration: float | None
    fps: float | None
    has_audio: bool

    def as_fields(self) -> dict:
        """Keyword arguments for Generation.mark_ready."""
        return {
            "video_bytes": self.bytes,
            "video_width": self.width,
            "video_height": self.height,
            "video_duration": self.duration,
            "video_fps": self.fps,
            "video_has_audio": self.has_audio,
        }


_NOT_A_VIDEO = "The provider's file is not a playable video."


def probe(path: Path) -> VideoInfo:
    """What the file really is; NotAVideo unless PyAV finds a video stream in it."""
    try:
        with av.open(str(path)) as container:
            video = next((s for s in container.streams if s.type == "video"), None)
            if video is None or not video.codec_context.width:
                raise NotAVideo("the file has no video stream", user_message=_NOT_A_VIDEO)
            if container.duration:
                duration = container.duration / av.time_base
            elif video.duration and video.time_base:
                duration = float(video.duration * video.time_base)
            else:
                duration = None
            rate = video.average_rate or video.guessed_rate
            return VideoInfo(
                bytes=path.stat().st_size,
                width=video.codec_context.width,
                height=video.codec_context.height,
                duration=round(duration, 3) if duration else None,
                fps=round(float(rate), 3) if rate else None,
                has_audio=any(s.type == "audio" for s in container.streams),
            )
    except NotAVideo:
        raise
    except Exception as exc:  # PyAV raises many kinds for garbage input
        raise NotAVideo(
            f"PyAV cannot open the file ({exc.__class__.__name__})", user_message=_NOT_A_VIDEO
        ) from None


def make_poster(video_path: Path, *, at: float = POSTER_AT_SECONDS, quality: int = 85) -> Path:
    """A JPEG of the frame about `at` seconds in (or the last one, for a shorter clip)."""
    fd, name = tempfile.mkstemp(prefix="poster-", suffix=".jpg", dir=tmp_dir())
    os.close(fd)
    path = Path(name)
    try:
        image = None
        with av.open(str(video_path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            with contextlib.suppress(av.FFmpegError):
                container.seek(int(at * av.time_base), backward=True)
            for frame in container.decode(stream):
                image = frame.to_image()
                if frame.time is not None and frame.time >= at:
                    break
        if image is None:
            raise NotAVideo("no frame could be decoded", user_message=_NOT_A_VIDEO)
        image.convert("RGB").save(path, "JPEG", quality=quality, optimize=True)
        return path
    except NotAVideo:
        path.unlink(missing_ok=True)
        raise
    except Exception as exc:
        path.unlink(missing_ok=True)
        raise NotAVideo(
            f"decoding a frame failed ({exc.__class__.__name__})", user_message=_NOT_A_VIDEO
        ) from None


def place(tmp: Path, name: str) -> str:
    """Move a complete temporary file to its storage name, atomically; returns the name."""
    final = Path(settings.MEDIA_ROOT) / name
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, final)
    return name


@dataclass(frozen=True)
class StoredVideo:
    video: str
    poster: str
    info: VideoInfo


def store_result(
    url: str,
    *,
    video_name: str,
    poster_name: str,
    allow_private: bool,
    max_bytes: int | None = None,
    guard: UrlGuard | None = None,
) -> StoredVideo:
    """Fetch, check and place a result; nothing is left behind when it fails."""
    guard = guard or UrlGuard(allow_private=allow_private)
    started = time.monotonic()
    tmp = fetch(url, guard=guard, max_bytes=max_bytes or settings.STUDIO_MAX_VIDEO_BYTES)
    poster = None
    try:
        info = probe(tmp)
        poster = make_poster(tmp)
        # The poster first: a video in place means the work is done.
        place(poster, poster_name)
        place(tmp, video_name)
    except BaseException:
        tmp.unlink(missing_ok=True)
        if poster is not None:
            poster.unlink(missing_ok=True)
        raise
    log.info(
        "Stored %s (%s bytes, %sx%s, %ss) in %.2fs",
        video_name,
        info.bytes,
        info.width,
        info.height,
        info.duration,
        time.monotonic() - started,
    )
    return StoredVideo(video=video_name, poster=poster_name, info=info)


def clean_tmp(*, older_than: float = 6 * 3600) -> int:
    """Remove temporary files a killed worker left behind; returns how many."""
    removed = 0
    cutoff = time.time() - older_than
    directory = Path(settings.MEDIA_ROOT) / TMP_DIR_NAME
    if not directory.is_dir():
        return 0
    for path in directory.iterdir():
        with contextlib.suppress(OSError):
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    return removed
