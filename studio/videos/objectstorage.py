"""Videos and posters in an S3-compatible bucket: django-storages' S3Storage, with what the studio needs.

- Saving a complete local file (what store_result places) uploads it from its
  path: multipart above 8 MB, parts read from disk as they are sent, so memory
  stays flat whatever the size. The file's SHA-256 goes along as object metadata
  (x-amz-meta-sha256), so `movefiles` can check a copy without reading it.
- describe() answers size, modified time and that hash in one HEAD request.
- read_range() is one ranged GET, streamed: the media view's proxy mode
  (STUDIO_S3_PROXY=1) never downloads a whole object to answer a seek.
- signed_url() is a short-lived presigned GET, with the download's
  Content-Disposition and the content type as response-* parameters, signed for
  the address browsers use (STUDIO_S3_PUBLIC_ENDPOINT_URL, when it differs).
- A missing object is FileNotFoundError; any other failure to reach the bucket
  is StorageUnavailable (an OSError), which the media view answers with 503.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from urllib.parse import urlsplit

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

from studio.videos.storage import StorageUnavailable

MB = 1024 * 1024
HASH_CHUNK = 1 * MB
SHA256_METADATA = "sha256"


def sha256_of(path: str, *, chunk: int = HASH_CHUNK) -> str:
    """The SHA-256 of a local file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    modified: datetime | None
    sha256: str  # "" when the object was not stored with one


def _missing(error: ClientError) -> bool:
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status == 404 or code in ("404", "NoSuchKey", "NotFound")


class MediaS3Storage(S3Storage):
    """The studio's S3 backend (settings.STORAGES["default"] when a bucket is configured)."""

    # store_result computes the video's SHA-256 as it downloads, for put_file to record.
    records_sha256 = True

    def __init__(self, **settings):
        super().__init__(**settings)
        if not settings.get("transfer_config"):
            # Parts of 8 MB, four at a time: each part is read from the file as it is sent.
            self.transfer_config = TransferConfig(
                multipart_threshold=8 * MB, multipart_chunksize=8 * MB, max_concurrency=4, use_threads=True
            )
        self._public = threading.local()

    def get_default_settings(self):
        return {
            **super().get_default_settings(),
            # Where browsers reach the bucket, when it is not where the studio does (compose, a proxy).
            "public_endpoint_url": None,
            # A name is never reused for other bytes, as on the file system: a killed
            # earlier try's object stays apart and the pipeline removes it.
            "file_overwrite": False,
            "signature_version": "s3v4",
            "querystring_expire": 900,
        }

    def key(self, name: str) -> str:
        """The object key of a storage name (the prefix included)."""
        return self._normalize_name(clean_name(name))

    @property
    def client(self):
        return self.connection.meta.client

    # --- Writing ---

    def _save(self, name, content):
        path = getattr(content, "temporary_file_path", None)
        if path is None:
            return super()._save(name, content)
        cleaned = clean_name(name)
        self.put_file(cleaned, path(), sha256=getattr(content, "sha256", ""), content=content)
        return cleaned

    def put_file(self, name: str, path: str, *, sha256: str = "", content=None) -> str:
        """Upload a local file to exactly `name` (no free-name search); returns the SHA-256 recorded."""
        params = self._get_write_parameters(self.key(name), content)
        digest = sha256 or sha256_of(path)
        params["Metadata"] = {**params.get("Metadata", {}), SHA256_METADATA: digest}
        try:
            self.client.upload_file(
                path, self.bucket_name, self.key(name), ExtraArgs=params, Config=self.transfer_config
            )
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(f"uploading {name} failed: {exc}") from exc
        return digest

    def delete(self, name):
        try:
            super().delete(name)
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(f"deleting {name} failed: {exc}") from exc

    # --- Reading ---

    def describe(self, name: str) -> ObjectInfo:
        """Size, modified time and recorded SHA-256 of one object: one HEAD request."""
        try:
            head = self.client.head_object(Bucket=self.bucket_name, Key=self.key(name))
        except ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(f"no object {name}") from None
            raise StorageUnavailable(f"reading {name} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(f"reading {name} failed: {exc}") from exc
        return ObjectInfo(
            size=int(head["ContentLength"]),
            modified=head.get("LastModified"),
            sha256=head.get("Metadata", {}).get(SHA256_METADATA, ""),
        )

    def size(self, name):
        return self.describe(name).size

    def get_modified_time(self, name):
        modified = self.describe(name).modified
        if modified is None:
            raise NotImplementedError("this server gives no modified time")
        return modified

    def exists(self, name):
        try:
            self.describe(name)
        except FileNotFoundError:
            return False
        return True

    def read_range(self, name: str, first: int, length: int, *, chunk: int = 64 * 1024) -> Iterator[bytes]:
        """`length` bytes from `first` on, in chunks, from one ranged GET."""
        if length <= 0:
            return
        try:
            body = self.client.get_object(
                Bucket=self.bucket_name, Key=self.key(name), Range=f"bytes={first}-{first + length - 1}"
            )["Body"]
        except ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(f"no object {name}") from None
            raise StorageUnavailable(f"reading {name} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(f"reading {name} failed: {exc}") from exc
        try:
            remaining = length
            for block in body.iter_chunks(chunk):
                block = block[:remaining]
                remaining -= len(block)
                yield block
                if remaining <= 0:
                    break
        finally:
            body.close()

    # --- Links for browsers ---

    def _signing_client(self):
        if not self.public_endpoint_url:
            return self.client
        client = getattr(self._public, "client", None)
        if client is None:
            client = self._create_session().client(
                "s3",
                region_name=self.region_name,
                endpoint_url=self.public_endpoint_url,
                config=self.client_config,
                verify=self.verify,
            )
            self._public.client = client
        return client

    def signed_url(
        self,
        name: str,
        *,
        content_type: str | None = None,
        disposition: str | None = None,
        expire: int | None = None,
    ) -> str:
        """A presigned GET that expires in `expire` seconds (querystring_expire by default)."""
        params = {"Bucket": self.bucket_name, "Key": self.key(name)}
        if content_type:
            params["ResponseContentType"] = content_type
        if disposition:
            params["ResponseContentDisposition"] = disposition
        try:
            return self._signing_client().generate_presigned_url(
                "get_object", Params=params, ExpiresIn=expire or self.querystring_expire
            )
        except BotoCoreError as exc:  # no credentials, say
            raise StorageUnavailable(f"signing a link to {name} failed: {exc}") from exc

    def url(self, name, parameters=None, expire=None, http_method=None):
        if parameters or http_method or self.custom_domain or not self.querystring_auth:
            return super().url(name, parameters=parameters, expire=expire, http_method=http_method)
        return self.signed_url(name, expire=expire)

    @cached_property
    def media_origin(self) -> str:
        """The origin (scheme://host[:port]) of the links signed_url() gives, for the CSP."""
        parts = urlsplit(self.signed_url("origin-probe", expire=60))
        return f"{parts.scheme}://{parts.netloc}"
