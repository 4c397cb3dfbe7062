"""Reading where videos and posters live from the environment: the local folder or an S3 bucket.

STUDIO_STORAGE_URL names a bucket in one line:

    s3://[ACCESS_KEY:SECRET_KEY@]BUCKET[/PREFIX][?endpoint_url=URL&region=NAME
        &addressing_style=path|virtual|auto&public_endpoint_url=URL]

and the STUDIO_S3_* variables give the same parts one by one (each one set wins
over the URL's part, so the keys can stay out of the URL). Nothing set: the
local folder. Kept free of boto3 and Django's storage machinery, so reading the
settings stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

# STUDIO_S3_* variable -> the S3 backend's option it sets.
S3_VARIABLES = {
    "STUDIO_S3_BUCKET": "bucket_name",
    "STUDIO_S3_PREFIX": "location",
    "STUDIO_S3_ENDPOINT_URL": "endpoint_url",
    "STUDIO_S3_REGION": "region_name",
    "STUDIO_S3_ACCESS_KEY": "access_key",
    "STUDIO_S3_SECRET_KEY": "secret_key",
    "STUDIO_S3_ADDRESSING_STYLE": "addressing_style",
    "STUDIO_S3_PUBLIC_ENDPOINT_URL": "public_endpoint_url",
}
# The query parameters STUDIO_STORAGE_URL understands.
_QUERY = {
    "endpoint_url": "endpoint_url",
    "region": "region_name",
    "addressing_style": "addressing_style",
    "public_endpoint_url": "public_endpoint_url",
}
_ADDRESSING = ("auto", "path", "virtual")


def _from_url(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    if parts.scheme != "s3":
        raise ImproperlyConfigured(
            f"STUDIO_STORAGE_URL must start with s3:// (s3://bucket/prefix?endpoint_url=...), not {url!r}."
        )
    userinfo, _, bucket = parts.netloc.rpartition("@")
    if not bucket:
        raise ImproperlyConfigured("STUDIO_STORAGE_URL names no bucket (s3://BUCKET/prefix).")
    options = {"bucket_name": bucket}
    if prefix := parts.path.strip("/"):
        options["location"] = unquote(prefix)
    if userinfo:
        key, _, secret = userinfo.partition(":")
        options["access_key"], options["secret_key"] = unquote(key), unquote(secret)
    for name, values in parse_qs(parts.query, keep_blank_values=True).items():
        if name not in _QUERY:
            known = ", ".join(_QUERY)
            raise ImproperlyConfigured(f"STUDIO_STORAGE_URL: unknown parameter {name!r} (known: {known}).")
        options[_QUERY[name]] = values[-1].strip()
    return options


def s3_options(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The S3 backend's options from the environment; empty when no bucket is configured."""
    options: dict[str, str] = {}
    if url := environ.get("STUDIO_STORAGE_URL", "").strip():
        options = _from_url(url)
    for variable, option in S3_VARIABLES.items():
        if value := environ.get(variable, "").strip():
            options[option] = value
    options = {name: value for name, value in options.items() if value}
    if not options:
        return {}
    if "bucket_name" not in options:
        raise ImproperlyConfigured(
            "S3 storage is partly configured: set STUDIO_S3_BUCKET (or STUDIO_STORAGE_URL=s3://bucket/...)."
        )
    for option in ("endpoint_url", "public_endpoint_url"):
        value = options.get(option, "")
        if value and (urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc):
            raise ImproperlyConfigured(f"The S3 {option} must be an http:// or https:// URL, not {value!r}.")
        if value:
            options[option] = value.rstrip("/")
    if bool(options.get("access_key")) != bool(options.get("secret_key")):
        raise ImproperlyConfigured("Set both STUDIO_S3_ACCESS_KEY and STUDIO_S3_SECRET_KEY, or neither.")
    style = options.get("addressing_style")
    if style and style not in _ADDRESSING:
        raise ImproperlyConfigured(f"STUDIO_S3_ADDRESSING_STYLE must be one of {', '.join(_ADDRESSING)}.")
    if "endpoint_url" in options and not style:
        # Own endpoints (MinIO, moto, Ceph, a loopback address) rarely resolve bucket.host names.
        options["addressing_style"] = "path"
    options.setdefault("addressing_style", "auto")
    if options["addressing_style"] == "auto":
        options.pop("addressing_style")  # botocore's own default
    return options
