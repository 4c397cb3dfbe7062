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
- Behind nginx (settings.STUDIO_X_ACCEL_REDIRECT_PREFIX) the response is empty
  and nginx sends the bytes, ranges included, from an internal location.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db.models.fields.files import FieldFile
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.utils.http import content_disposition_header, http_date, parse_http_date_safe

CHUNK_SIZE = 64 * 1024
_RANGE = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


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
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(size - suffix, 0), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None  # syntactically invalid per RFC 9110, so ignored
    if first >= size:
        return "unsatisfiable"
    last = int(last_text) if last_text else size - 1
    return first, min(last, size - 1)


def _read_range(path: Path, first: int, length: int) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        handle.seek(first)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(CHUNK_SIZE, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk


def _if_range_matches(request: HttpRequest, etag: str, mtime: float) -> bool:
    """True when there is no If-Range or it still names this exact file."""
    value = request.headers.get("If-Range")
    if not value:
        return True
    value = value.strip()
    if value.startswith(('"', "W/")):
        return value == etag  # a weak tag never matches: If-Range needs a strong one
    since = parse_http_date_safe(value)
    return since is not None and int(mtime) == since


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
    try:
        path = Path(field.path)
        stat = path.stat()
    except (OSError, NotImplementedError, ValueError):
        raise Http404("The file is missing.") from None

    size = stat.st_size
    etag = f'"{size:x}-{stat.st_mtime_ns:x}"'
    disposition = content_disposition_header(True, download_name) if download_name else None

    if prefix := settings.STUDIO_X_ACCEL_REDIRECT_PREFIX:
        response = HttpResponse(b"", content_type=content_type)
        response["X-Accel-Redirect"] = prefix.rstrip("/") + "/" + quote(field.name.lstrip("/"))
        if disposition:
            response["Content-Disposition"] = disposition
        return response

    def with_common_headers(response: HttpResponseBase) -> HttpResponseBase:
        response["Accept-Ranges"] = "bytes"
        response["ETag"] = etag
        response["Last-Modified"] = http_date(stat.st_mtime)
        # Private: the file belongs to a team. Files never change under a code.
        response["Cache-Control"] = "private, max-age=3600"
        if disposition:
            response["Content-Disposition"] = disposition
        return response

    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        return with_common_headers(HttpResponse(status=304))

    wanted = None
    if (header := request.headers.get("Range")) and _if_range_matches(request, etag, stat.st_mtime):
        wanted = parse_range(header, size)
    if wanted == "unsatisfiable":
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return with_common_headers(response)

    first, last = wanted if isinstance(wanted, tuple) else (0, size - 1)
    length = max(last - first + 1, 0)
    body = iter(()) if request.method == "HEAD" else _read_range(path, first, length)
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Length"] = str(length)
    if isinstance(wanted, tuple):
        response.status_code = 206
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    return with_common_headers(response)
