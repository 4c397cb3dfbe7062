"""Serving stored videos and posters: HTTP Range, validators, X-Accel-Redirect.

Browsers seek in a <video> by asking for byte ranges, and Django's FileResponse
only ever sends the whole file, so this module answers Range itself (RFC 9110
section 14). Callers check access first; this module only deals in bytes.

Choices worth knowing:
- A Range header we cannot parse is ignored and the whole file is sent (200),
  as RFC 9110 asks.
- A request for several ranges is answered with the whole file (200): servers
  may ignore Range, browsers never ask for more than one, and it saves a
  multipart/byteranges encoder.
- If-Range with a validator that no longer matches also gets the whole file.
- Numbers too long to be a byte position are read as "past any end", so a
  Range of 5,000 nines is a 416 (or clamped), not a crash.
- Bytes are read through the file's storage (open, seek, read in chunks), so
  any Django storage backend serves the same way. Behind nginx
  (settings.STUDIO_X_ACCEL_REDIRECT_PREFIX, file system only) the response is
  empty and nginx sends the bytes, ranges included, from an internal location.
  With settings.STUDIO_MEDIA_REDIRECT, for a backend whose url() is a
  short-lived signed link, the answer is a redirect to it (the default with S3,
  studio.videos.objectstorage: the bucket then answers Range itself, and the
  link carries the download's Content-Disposition). A backend with a
  read_range() (S3 under STUDIO_S3_PROXY=1) is read with one ranged request per
  answer instead of open/seek, and one whose describe() gives size and modified
  time together is asked once. A bucket that cannot be reached is a 503.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from urllib.parse import quote

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.db.models.fields.files import FieldFile
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.utils.http import content_disposition_header, http_date, parse_http_date_safe

from studio.videos.storage import StorageUnavailable

log = logging.getLogger(__name__)

CHUNK_SIZE = 64 * 1024
_RANGE = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")
# Beyond any file size; longer digit strings are not converted (int() refuses 4,300+ digits).
_PAST_ANY_END = 10**18


def _position(digits: str) -> int:
    return int(digits) if len(digits) < 18 else _PAST_ANY_END


def parse_range(header: str, size: int) -> tuple[int, int] | str | None:
    """The one byte range a Range header asks for, as (first, last) inclusive.

    Returns None when the header should be ignored (malformed, not bytes,
    several ranges) and "unsatisfiable" when it is well formed but no byte of
    the file is in it.
    """
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or not spec.strip():
        return None
    ranges = spec.split(",")
    if len(ranges) != 1:
        return None
    match = _RANGE.match(ranges[0])
    if not match:
        return None
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        return None
    if not first_text:
        # bytes=-n: the last n bytes.
        suffix = _position(last_text)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(size - suffix, 0), size - 1
    first = _position(first_text)
    if last_text and _position(last_text) < first:
        return None  # syntactically invalid per RFC 9110, so ignored
    if first >= size:
        return "unsatisfiable"
    last = _position(last_text) if last_text else size - 1
    return first, min(last, size - 1)


def _read_range(storage: Storage, name: str, first: int, length: int) -> Iterator[bytes]:
    if read_range := getattr(storage, "read_range", None):
        yield from read_range(name, first, length, chunk=CHUNK_SIZE)
        return
    with storage.open(name, "rb") as handle:
        handle.seek(first)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(CHUNK_SIZE, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk


def _if_range_matches(request: HttpRequest, etag: str, mtime: float | None) -> bool:
    """True when there is no If-Range or it still names this exact file."""
    value = request.headers.get("If-Range")
    if not value:
        return True
    value = value.strip()
    if value.startswith(('"', "W/")):
        return value == etag  # a weak tag never matches: If-Range needs a strong one
    since = parse_http_date_safe(value)
    return since is not None and mtime is not None and int(mtime) == since


def _stat(storage: Storage, name: str) -> tuple[int, float | None]:
    """Size and modified time (None when the backend has none) of a stored file."""
    if describe := getattr(storage, "describe", None):
        info = describe(name)
        return info.size, info.modified.timestamp() if info.modified else None
    size = storage.size(name)
    try:
        mtime: float | None = storage.get_modified_time(name).timestamp()
    except (OSError, NotImplementedError):
        mtime = None
    return size, mtime


def _signed_url(storage: Storage, name: str, content_type: str, disposition: str | None) -> str:
    if signed_url := getattr(storage, "signed_url", None):
        return signed_url(name, content_type=content_type, disposition=disposition)
    return storage.url(name)


def _unavailable() -> HttpResponse:
    response = HttpResponse(
        "The video storage cannot be reached just now. Try again in a minute.",
        status=503,
        content_type="text/plain; charset=utf-8",
    )
    response["Retry-After"] = "30"
    response["Cache-Control"] = "no-store"
    return response


def redirect_origin() -> str:
    """The origin media are redirected to (for the CSP), or "" when they are served from here."""
    if not settings.STUDIO_MEDIA_REDIRECT:
        return ""
    try:
        return getattr(storages["default"], "media_origin", "")
    except OSError:  # no credentials to sign with, say: the media views answer 503 meanwhile
        log.warning("The media origin for the CSP is unknown: signing a link failed", exc_info=True)
        return ""


def serve_file(
    request: HttpRequest,
    field: FieldFile,
    *,
    content_type: str,
    download_name: str | None = None,
) -> HttpResponseBase:
    """The stored file behind `field`, honouring Range, If-Range and If-None-Match."""
    if not field or not field.name:
        raise Http404("No file.")
    storage, name = field.storage, field.name
    try:
        size, mtime = _stat(storage, name)
    except StorageUnavailable:
        return _unavailable()
    except (OSError, NotImplementedError, ValueError):
        raise Http404("The file is missing.") from None
    disposition = content_disposition_header(True, download_name) if download_name else None

    if settings.STUDIO_MEDIA_REDIRECT:
        # After the access check: the backend's signed link expires soon, so never cache the redirect.
        try:
            response = HttpResponseRedirect(_signed_url(storage, name, content_type, disposition))
        except StorageUnavailable:
            return _unavailable()
        response["Cache-Control"] = "private, no-store"
        return response

    # Size and modified time where the backend has one: a name is never reused for other bytes.
    etag = f'"{size:x}-{int(mtime * 1e6):x}"' if mtime is not None else f'"{size:x}"'

    if prefix := settings.STUDIO_X_ACCEL_REDIRECT_PREFIX:
        response = HttpResponse(b"", content_type=content_type)
        response["X-Accel-Redirect"] = prefix.rstrip("/") + "/" + quote(name.lstrip("/"))
        if disposition:
            response["Content-Disposition"] = disposition
        return response

    def with_common_headers(response: HttpResponseBase) -> HttpResponseBase:
        response["Accept-Ranges"] = "bytes"
        response["ETag"] = etag
        if mtime is not None:
            response["Last-Modified"] = http_date(mtime)
        # Private: the file belongs to a team. Files never change under a code.
        response["Cache-Control"] = "private, max-age=3600"
        if disposition:
            response["Content-Disposition"] = disposition
        return response

    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        return with_common_headers(HttpResponse(status=304))

    wanted = None
    if (header := request.headers.get("Range")) and _if_range_matches(request, etag, mtime):
        wanted = parse_range(header, size)
    if wanted == "unsatisfiable":
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return with_common_headers(response)

    first, last = wanted if isinstance(wanted, tuple) else (0, size - 1)
    length = max(last - first + 1, 0)
    body = iter(()) if request.method == "HEAD" else _read_range(storage, name, first, length)
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Length"] = str(length)
    if isinstance(wanted, tuple):
        response.status_code = 206
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    return with_common_headers(response)
