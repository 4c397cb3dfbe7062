"""Moving an install's videos and posters between the local folder and an S3 bucket, and back.

What `manage.py movefiles --to s3|local` does, one stored name at a time (the
names the Generation rows hold, so stray files are never carried along):

- The source is read once while it is copied, its SHA-256 computed on the way
  (for the bucket, the hash recorded at upload is checked too). Nothing is
  ever held whole in memory: files go up from their path in parts, objects
  come down with ranged reads in chunks.
- The copy is then verified before anything else happens: its size, and its
  SHA-256 read back from the destination (the bucket's bytes downloaded again,
  the local file read again from disk after fsync).
- A name that is already at the destination with the same size and hash is
  skipped (a HEAD and a local read): a second run copies nothing, and a run
  that was stopped midway goes on where it stopped. An object upload is
  invisible until complete; a local copy is written to NAME.movefiles-part and
  linked into place only once verified, so a kill leaves no half file under a
  real name (the next run writes the part again).
- A destination that holds other bytes under the name is a conflict: reported,
  left alone, and the run ends non-zero.
- Names are the same in both places, so the rows need no change: the switch is
  the configuration (STORAGES["default"]). The source is deleted only with
  delete_source (--delete-source), only after its copy was verified.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import FileSystemStorage

from studio.videos.models import Generation
from studio.videos.objectstorage import MB, MediaS3Storage, sha256_of

PART_SUFFIX = ".movefiles-part"
CHUNK = 1 * MB

COPIED, ALREADY, GONE, MISSING, CONFLICT, FAILED = (
    "copied",
    "already there",
    "already moved",
    "missing",
    "conflict",
    "failed",
)
PROBLEMS = (MISSING, CONFLICT, FAILED)


class VerifyFailed(Exception):
    pass


@dataclass
class Outcome:
    name: str
    status: str
    bytes: int = 0
    detail: str = ""


@dataclass
class Report:
    counts: dict[str, int] = field(default_factory=dict)
    copied_bytes: int = 0
    problems: list[Outcome] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1
        if outcome.status == COPIED:
            self.copied_bytes += outcome.bytes
        if outcome.status in PROBLEMS:
            self.problems.append(outcome)

    @property
    def ok(self) -> bool:
        return not self.problems


def local_storage() -> FileSystemStorage:
    return FileSystemStorage(location=settings.MEDIA_ROOT)


def bucket_storage() -> MediaS3Storage:
    if not settings.STUDIO_S3:
        raise ImproperlyConfigured(
            "No bucket is configured: set STUDIO_STORAGE_URL (or STUDIO_S3_BUCKET and the other "
            "STUDIO_S3_* variables) for this command, even while the studio itself still uses the folder."
        )
    return MediaS3Storage(**settings.STUDIO_S3)


def stored_names() -> Iterator[str]:
    """Every video and poster name a row holds, oldest row first, each once."""
    rows = Generation.objects.exclude(video="", poster="").order_by("pk").values_list("video", "poster")
    for video, poster in rows.iterator(chunk_size=500):
        for name in (poster, video):
            if name:
                yield name


def _hash_chunks(chunks: Iterator[bytes]) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def _bucket_hash(bucket: MediaS3Storage, name: str, size: int) -> str:
    """The SHA-256 of the object's bytes, read back from the bucket (in chunks)."""
    read, digest = _hash_chunks(bucket.read_range(name, 0, size, chunk=CHUNK))
    if read != size:
        raise VerifyFailed(f"{name}: read {read} bytes back from the bucket, expected {size}")
    return digest


def to_bucket(local: FileSystemStorage, bucket: MediaS3Storage, name: str, *, delete_source: bool) -> Outcome:
    path = Path(local.path(name))
    if not path.is_file():
        return Outcome(name, GONE if bucket.exists(name) else MISSING)
    size = path.stat().st_size
    digest = sha256_of(str(path), chunk=CHUNK)
    try:
        there = bucket.describe(name)
    except FileNotFoundError:
        there = None
    if there is not None:
        if there.size != size or (there.sha256 and there.sha256 != digest):
            return Outcome(name, CONFLICT, detail=f"the bucket holds other bytes ({there.size:,} bytes)")
        # Without a recorded hash, or before the source goes: the bucket's bytes themselves.
        if (delete_source or not there.sha256) and _bucket_hash(bucket, name, size) != digest:
            return Outcome(name, CONFLICT, detail="the bucket holds other bytes of the same size")
        status = ALREADY
    else:
        bucket.put_file(name, str(path), sha256=digest)
        there = bucket.describe(name)
        if there.size != size:
            raise VerifyFailed(f"{name}: the bucket holds {there.size:,} bytes, the file {size:,}")
        if _bucket_hash(bucket, name, size) != digest:
            raise VerifyFailed(f"{name}: the bytes read back from the bucket differ")
        status = COPIED
    if delete_source:
        local.delete(name)
    return Outcome(name, status, bytes=size)


def to_local(bucket: MediaS3Storage, local: FileSystemStorage, name: str, *, delete_source: bool) -> Outcome:
    path = Path(local.path(name))
    try:
        there = bucket.describe(name)
    except FileNotFoundError:
        return Outcome(name, GONE if path.is_file() else MISSING)
    if path.exists():
        size = path.stat().st_size
        digest = sha256_of(str(path), chunk=CHUNK)
        expected = there.sha256 or (_bucket_hash(bucket, name, there.size) if size == there.size else "")
        if size != there.size or digest != expected:
            return Outcome(name, CONFLICT, detail=f"the folder holds other bytes ({size:,} bytes)")
        status = ALREADY
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + PART_SUFFIX)
        try:
            with open(part, "wb") as out:
                digest_while_copying = hashlib.sha256()
                written = 0
                for chunk in bucket.read_range(name, 0, there.size, chunk=CHUNK):
                    out.write(chunk)
                    digest_while_copying.update(chunk)
                    written += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            copied = digest_while_copying.hexdigest()
            if written != there.size or part.stat().st_size != there.size:
                raise VerifyFailed(f"{name}: wrote {written:,} bytes, the object has {there.size:,}")
            if there.sha256 and copied != there.sha256:
                raise VerifyFailed(f"{name}: the bytes read differ from the hash recorded at upload")
            if sha256_of(str(part), chunk=CHUNK) != copied:
                raise VerifyFailed(f"{name}: the file read back from disk differs")
            os.link(part, path)  # never over a file that appeared meanwhile
        finally:
            part.unlink(missing_ok=True)
        status, size = COPIED, there.size
    if delete_source:
        bucket.delete(name)
    return Outcome(name, status, bytes=size)


def move_files(
    *,
    to: str,
    delete_source: bool = False,
    dry_run: bool = False,
    progress: Callable[[int, Report, Outcome], None] = lambda done, report, outcome: None,
) -> Report:
    """Copy (and with delete_source, move) every stored name to `to` ("s3" or "local")."""
    if to not in ("s3", "local"):
        raise ValueError(f"to must be 's3' or 'local', not {to!r}")
    local, bucket = local_storage(), bucket_storage()
    report = Report()
    for done, name in enumerate(stored_names(), start=1):
        if dry_run:
            exists = bucket.exists(name) if to == "s3" else Path(local.path(name)).exists()
            outcome = Outcome(name, ALREADY if exists else "to copy")
        else:
            try:
                if to == "s3":
                    outcome = to_bucket(local, bucket, name, delete_source=delete_source)
                else:
                    outcome = to_local(bucket, local, name, delete_source=delete_source)
            except (OSError, VerifyFailed) as exc:
                outcome = Outcome(name, FAILED, detail=str(exc))
        report.add(outcome)
        progress(done, report, outcome)
    return report


def human_bytes(count: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:,.0f} {unit}" if unit == "bytes" else f"{count:,.1f} {unit}"
        count /= 1024
    return f"{count:,.1f} TB"


class Ticker:
    """Says how far a run got: every file at verbosity 2, otherwise every few seconds and at problems."""

    def __init__(self, write: Callable[[str], None], *, verbosity: int, every: float = 5.0) -> None:
        self.write, self.verbosity, self.every = write, verbosity, every
        self.last = time.monotonic()

    def __call__(self, done: int, report: Report, outcome: Outcome) -> None:
        if self.verbosity >= 2 or outcome.status in PROBLEMS:
            detail = f" ({outcome.detail})" if outcome.detail else ""
            self.write(f"{outcome.status}: {outcome.name}{detail}")
        if self.verbosity >= 1 and time.monotonic() - self.last >= self.every:
            self.last = time.monotonic()
            self.write(f"... {done:,} names, {human_bytes(report.copied_bytes)} copied")
