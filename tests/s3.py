"""A real S3 API on loopback for the tests: moto's standalone server, started by the suite itself.

Not a mock of boto3: the studio's backend (studio.videos.objectstorage) talks
HTTP to moto's server (ThreadedMotoServer, werkzeug on 127.0.0.1, port 0), as
it would to AWS or MinIO, and presigned links are fetched over HTTP too.

- `s3_server` (session): the server and one bucket per test process (so
  xdist workers never share one), with a boto3 client for the tests' own looks.
- `s3` (per test): the studio configured for that bucket, under a key prefix
  of its own (so tests never see each other's objects), in redirect mode
  (presigned links, the default with S3); a test sets
  settings.STUDIO_S3_PROXY / STUDIO_MEDIA_REDIRECT for the proxy mode.

Use: `from tests.s3 import s3, s3_server  # noqa: F401` in a test module.
"""

from __future__ import annotations

import logging
import os
import uuid
from types import SimpleNamespace

import pytest

REGION = "us-east-1"
KEYS = {"access_key": "testing", "secret_key": "testing"}
BACKEND = "studio.videos.objectstorage.MediaS3Storage"


@pytest.fixture(scope="session")
def s3_server():
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per S3 request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint_url = f"http://{host}:{port}"
    bucket = f"studio-test-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{os.getpid()}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=KEYS["access_key"],
        aws_secret_access_key=KEYS["secret_key"],
    )
    client.create_bucket(Bucket=bucket)
    try:
        yield SimpleNamespace(endpoint_url=endpoint_url, bucket=bucket, client=client, port=port)
    finally:
        server.stop()


def s3_options(s3_server, prefix: str, **extra) -> dict:
    return {
        "bucket_name": s3_server.bucket,
        "location": prefix,
        "endpoint_url": s3_server.endpoint_url,
        "region_name": REGION,
        "addressing_style": "path",
        "querystring_expire": 900,
        **KEYS,
        **extra,
    }


@pytest.fixture
def s3(settings, s3_server):
    """The studio's files in the loopback bucket, under a prefix of this test's own.

    Yields the server's namespace plus .prefix, .options, .keys() (the keys
    under the prefix, without it) and .body(name).
    """
    prefix = f"t-{uuid.uuid4().hex[:12]}"
    options = s3_options(s3_server, prefix)
    settings.STUDIO_S3 = options
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": BACKEND, "OPTIONS": options}}
    settings.STUDIO_S3_PROXY = False
    settings.STUDIO_MEDIA_REDIRECT = True
    settings.STUDIO_X_ACCEL_REDIRECT_PREFIX = ""

    def keys() -> list[str]:
        pages = s3_server.client.get_paginator("list_objects_v2").paginate(
            Bucket=s3_server.bucket, Prefix=prefix + "/"
        )
        return sorted(
            item["Key"].removeprefix(prefix + "/") for page in pages for item in page.get("Contents", [])
        )

    def body(name: str) -> bytes:
        return s3_server.client.get_object(Bucket=s3_server.bucket, Key=f"{prefix}/{name}")["Body"].read()

    yield SimpleNamespace(
        endpoint_url=s3_server.endpoint_url,
        bucket=s3_server.bucket,
        client=s3_server.client,
        prefix=prefix,
        options=options,
        keys=keys,
        body=body,
    )
