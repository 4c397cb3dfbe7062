"""Copying a finished video into the studio's storage, safely and whole.

The provider's result link is a URL the provider chose, so it is fetched
through the SSRF guard (studio.lib.safehttp) with a byte limit and a total
deadline (the size cap at a minimum rate: a server that trickles cannot hold a
download for ever). The body streams into a local temporary file named after
the generation and its claim, PyAV checks it and a poster is made; then both go
through Django's storage API, the poster first and the video last. For the file
system the temporary files live under the storage's own folder, so saving is a
rename and the gallery never sees half a file. For an S3 bucket
(studio.videos.objectstorage) they live under MEDIA_ROOT/tmp and saving is a
multipart upload from the file, the video's SHA-256 (computed as it downloads)
recorded with the object; S3 shows an object only once its upload completed.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import httpx
from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage

from studio.lib import safehttp
from studio.lib.safehttp import UrlGuard

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
POSTER_AT_SECONDS = 1.0
TMP_DIR_NAME = "tmp"
USER_AGENT = "OmniStudio/0.1 (result download)"


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


class ResultGone(StorageError):
    """403/404/410 on the file: the link ran out, or the file is not (yet) there."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the result link answered {status}")
        self.status = status


class StorageUnavailable(OSError):
    """The storage backend could not be reached or refused us (an S3 bucket: network, credentials).

    Raised by studio.videos.objectstorage; the media view answers it with 503,
    and a store that meets it is retried like any other unexpected failure.
    """


class DownloadFailed(StorageError):
    """A network failure, a 5xx/429 or a download past its deadline: worth another try later."""

    permanent = False


def download_seconds(max_bytes: int) -> float:
    """The total deadline of one download: the largest file allowed, at the slowest rate accepted."""
    return max_bytes / (settings.STUDIO_DOWNLOAD_MIN_KBPS * 1024)


def tmp_dir(storage: Storage) -> Path:
    """Local room for downloads: inside the storage's folder when it is the file system (one rename away)."""
    base = storage.location if isinstance(storage, FileSystemStorage) else settings.MEDIA_ROOT
    return Path(base) / TMP_DIR_NAME


def fetch(url: str, path: Path, *, guard: UrlGuard, max_bytes: int, digest=None) -> int:
    """Stream url into path (created, or emptied) by the download deadline; returns the bytes written.

    `digest` (a hashlib object), when given, is fed every byte as it is written.
    On any failure path is removed and a StorageError raised.
    """
    try:
        return _fetch(url, path, guard=guard, max_bytes=max_bytes, digest=digest)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


# This process's download clients, one per guard: one connection pool and one TLS context,
# reused by every download (a new client and TLS context per download cost 33 ms each).
_clients: dict[tuple[int, type, UrlGuard], httpx.Client] = {}
_clients_lock = threading.Lock()


def _new_client(guard: UrlGuard) -> httpx.Client:
    return guard.client(
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        headers={"User-Agent": USER_AGENT, "Accept": "video/*, */*"},
    )


def download_client(guard: UrlGuard) -> httpx.Client:
    """The client downloads through `guard` share in this process (made on first use).

    Sharing it keeps the guard's promise: every socket is still opened by the
    guard's backend, to the address it checked, and a kept-alive connection stays
    on the address it was opened to, so no later DNS answer reaches a reused one.
    Clients are per guard (a team allowed private results never lends a connection
    to one that is not) and per process (a forked worker never shares its parent's sockets).
    """
    key = (os.getpid(), type(guard), guard)
    with _clients_lock:
        client = _clients.get(key)
        if client is None or client.is_closed:
            client = _clients[key] = _new_client(guard)
        return client


@contextlib.contextmanager
def _client_for(guard: UrlGuard):
    try:
        hash(guard)
    except TypeError:
        # A guard that cannot be a key (a test's fake DNS table): a client for this download alone.
        with _new_client(guard) as client:
            yield client
        return
    yield download_client(guard)


def _fetch(url: str, path: Path, *, guard: UrlGuard, max_bytes: int, digest=None) -> int:
    deadline = time.monotonic() + download_seconds(max_bytes)
    timeout = settings.STUDIO_DOWNLOAD_READ_TIMEOUT
    try:
        with (
            open(path, "wb") as out,
            _client_for(guard) as client,
            client.stream("GET", url, timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0))) as response,
        ):
            _check_status(response.status_code)
            written = _copy(response, out, max_bytes=max_bytes, deadline=deadline, digest=digest)
            out.flush()
            os.fsync(out.fileno())
            return written
    except safehttp.UnsafeURL as exc:
        raise UnsafeResultURL(f"The provider's download link was refused: {exc}.") from None
    except httpx.TooManyRedirects:
        raise UnsafeResultURL(
            f"The provider's download link redirected more than {MAX_REDIRECTS} times."
        ) from None
    except httpx.HTTPError as exc:
        raise DownloadFailed(
            f"downloading the result failed ({exc.__class__.__name__})",
            user_message="the provider's file server could not be reached or stopped answering.",
        ) from None
    except (ValueError, OverflowError, httpx.InvalidURL) as exc:
        # A port out of range, a broken IPv6 literal, a redirect to such: no try will work.
        raise StorageError(
            f"the result link is not a valid URL ({exc.__class__.__name__})",
            user_message="The provider's download link is not a valid address.",
        ) from None


def _check_status(status: int) -> None:
    if status == 200:
        return
    if status in (403, 404, 410):
        raise ResultGone(status)
    if status == 429 or status >= 500:
        raise DownloadFailed(
            f"the result link answered {status}",
            user_message=f"the provider's file server answered {status}.",
        )
    raise StorageError(f"the result link answered {status}")


def _copy(response: httpx.Response, out, *, max_bytes: int, deadline: float, digest=None) -> int:
    too_large = ResultTooLarge(
        f"the result is larger than the {max_bytes:,} bytes allowed",
        user_message=f"The video file is larger than the studio accepts ({max_bytes // (1024 * 1024)} MB).",
    )
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    written = 0
    # Each network read as it comes (no chunk_size: httpx would wait to fill it),
    # so the deadline is checked at least once per read timeout.
    for chunk in response.iter_bytes():
        written += len(chunk)
        if written > max_bytes:
            raise too_large
        if time.monotonic() > deadline:
            raise DownloadFailed(
                "the result came too slowly",
                user_message="the provider's file came too slowly.",
            )
        out.write(chunk)
        if digest is not None:
            digest.update(chunk)
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


def make_poster(video_path: Path, path: Path, *, at: float = POSTER_AT_SECONDS, quality: int = 85) -> None:
    """Write to path a JPEG of the frame about `at` seconds in (or the last one, for a shorter clip)."""
    try:
        chosen = None
        with av.open(str(video_path)) as container:
            stream = container.streams.video[0]
            # Slice threads, not frame threads: frame threads each hold frames of their own
            # (memory per concurrent save), and the frames after a seek are few.
            stream.thread_type = "SLICE"
            # Frames no other frame refers to (B-frames) are not decoded at all: the poster is
            # the first reference frame at or after `at`, at most a few frames later, for
            # about half the decoding.
            stream.codec_context.skip_frame = "NONREF"
            with contextlib.suppress(av.FFmpegError):
                container.seek(int(at * av.time_base), backward=True)
            for frame in container.decode(stream):
                # Only the chosen frame becomes a picture: converting every decoded
                # frame was most of the time of saving a video (issue 17).
                chosen = frame
                if frame.time is not None and frame.time >= at:
                    break
            if chosen is None:
                raise NotAVideo("no frame could be decoded", user_message=_NOT_A_VIDEO)
            image = chosen.to_image()
        image.convert("RGB").save(path, "JPEG", quality=quality, optimize=True)
    except NotAVideo:
        raise
    except Exception as exc:
        raise NotAVideo(
            f"decoding a frame failed ({exc.__class__.__name__})", user_message=_NOT_A_VIDEO
        ) from None


class _LocalFile(File):
    """A complete local file. FileSystemStorage moves such a file into place (a rename on
    one file system) instead of copying it, so the file appears whole or not at all; the
    S3 backend uploads it from its path, in parts, with its SHA-256 (`sha256`, when known)."""

    sha256 = ""

    def temporary_file_path(self) -> str:
        return self.name


def place(storage: Storage, path: Path, name: str, *, sha256: str = "") -> str:
    """Save a complete local file under name (or a free name next to it); returns the name used."""
    with open(path, "rb") as handle:
        local = _LocalFile(handle, name=str(path))
        local.sha256 = sha256
        return storage.save(name, local)


@dataclass(frozen=True)
class StoredVideo:
    video: str
    poster: str
    info: VideoInfo
    sha256: str = ""  # of the video, computed as it was downloaded (for a backend that records it)


def store_result(
    url: str,
    *,
    storage: Storage,
    video_name: str,
    poster_name: str,
    tmp_name: str,
    allow_private: bool,
    max_bytes: int | None = None,
    guard: UrlGuard | None = None,
) -> StoredVideo:
    """Fetch, check and save a result; nothing of it is left behind when it fails.

    tmp_name names the temporary files (see clean_tmp): the caller's claim.
    """
    guard = guard or UrlGuard(allow_private=allow_private)
    started = time.monotonic()
    directory = tmp_dir(storage)
    directory.mkdir(parents=True, exist_ok=True)
    video_tmp, poster_tmp = directory / f"{tmp_name}.mp4.part", directory / f"{tmp_name}.jpg.part"
    try:
        # For a backend that records it (S3: object metadata); the file system has no use for it.
        digest = hashlib.sha256() if getattr(storage, "records_sha256", False) else None
        fetch(
            url,
            video_tmp,
            guard=guard,
            max_bytes=max_bytes or settings.STUDIO_MAX_VIDEO_BYTES,
            digest=digest,
        )
        info = probe(video_tmp)
        make_poster(video_tmp, poster_tmp)
        # The poster first: a video in storage means the work is done.
        poster = place(storage, poster_tmp, poster_name)
        try:
            video = place(storage, video_tmp, video_name, sha256=digest.hexdigest() if digest else "")
        except BaseException:
            storage.delete(poster)
            raise
    finally:
        video_tmp.unlink(missing_ok=True)
        poster_tmp.unlink(missing_ok=True)
    log.info(
        "Stored %s (%s bytes, %sx%s, %ss) in %.2fs",
        video,
        info.bytes,
        info.width,
        info.height,
        info.duration,
        time.monotonic() - started,
    )
    return StoredVideo(video=video, poster=poster, info=info, sha256=digest.hexdigest() if digest else "")


def clean_tmp(storage: Storage, *, keep: Callable[[str], bool]) -> int:
    """Remove the temporary files whose name `keep` says no live claim could still be writing."""
    removed = 0
    directory = tmp_dir(storage)
    if not directory.is_dir():
        return 0
    for path in directory.iterdir():
        with contextlib.suppress(OSError):
            if path.is_file() and not keep(path.name.split(".")[0]):
                path.unlink()
                removed += 1
    return removed
