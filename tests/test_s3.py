"""Videos and posters in an S3 bucket, against a real S3 API server on loopback (tests/s3.py: moto).

Store a real result from the demo provider through the pipeline, play it with
Range through the presigned link and through the proxy, download it, delete
it, move an install's files to the bucket and back (resuming a stopped run),
and check the access rules and the CSP on the way.
"""

from __future__ import annotations

import hashlib
import io
import socket
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from studio.lib.storage_url import s3_options
from studio.videos import movefiles, review, services, storage, tasks
from studio.videos.models import Generation, Status
from studio.videos.objectstorage import MediaS3Storage
from tests import s3 as s3_fixtures
from tests.factories import make_ready_generation
from tests.s3 import BACKEND
from tests.s3 import s3_options as options_for
from tests.test_pipeline import new_generation, wait_for_provider
from tests.test_settings import manage

s3_server, s3 = s3_fixtures.s3_server, s3_fixtures.s3


def video_url(generation, **query) -> str:
    url = reverse("generation_video", args=[generation.code])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def poster_url(generation) -> str:
    return reverse("generation_poster", args=[generation.code])


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def local_files(settings) -> list[str]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def provider(studio_on_demo_provider, settings, monkeypatch):
    monkeypatch.setattr("studio.videos.services.async_task", lambda *args, **kw: None)
    settings.STUDIO_PUBLIC_URL = ""
    return studio_on_demo_provider


@pytest.fixture
def stored(s3, provider, team_a, alice):
    """A real result of the demo provider, stored in the bucket by the pipeline."""
    generation = new_generation(team_a, alice, duration="3")
    assert tasks.submit_generation(generation.pk)
    wait_for_provider(provider)
    assert tasks.poll_generation(generation.pk)
    generation = Generation.objects.get(pk=generation.pk)
    assert generation.status == Status.READY, generation.error_message
    return generation


# --- Configuration -----------------------------------------------------------------


def test_the_storage_url_and_the_variables_name_the_same_bucket():
    assert s3_options({}) == {}
    url = "s3://studio-media/media/v1?endpoint_url=http://127.0.0.1:9000/&region=eu-west-1"
    assert s3_options({"STUDIO_STORAGE_URL": url}) == {
        "bucket_name": "studio-media",
        "location": "media/v1",
        "endpoint_url": "http://127.0.0.1:9000",
        "region_name": "eu-west-1",
        "addressing_style": "path",  # an own endpoint: path style unless told
    }
    variables = {
        "STUDIO_S3_BUCKET": "studio-media",
        "STUDIO_S3_PREFIX": "media/v1",
        "STUDIO_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        "STUDIO_S3_REGION": "eu-west-1",
    }
    assert s3_options(variables) == s3_options({"STUDIO_STORAGE_URL": url})
    # Keys in the URL (percent-encoded) or beside it; a variable wins over the URL's part.
    keyed = s3_options({"STUDIO_STORAGE_URL": "s3://AKIA:se%2Fcret@bucket", "STUDIO_S3_REGION": "us-east-2"})
    assert keyed == {
        "bucket_name": "bucket",
        "access_key": "AKIA",
        "secret_key": "se/cret",
        "region_name": "us-east-2",
    }
    assert s3_options({"STUDIO_S3_BUCKET": "b", "STUDIO_S3_ADDRESSING_STYLE": "virtual"})[
        "addressing_style"
    ] == ("virtual")


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"STUDIO_STORAGE_URL": "https://bucket/x"}, "s3://"),
        ({"STUDIO_STORAGE_URL": "s3:///prefix"}, "no bucket"),
        ({"STUDIO_STORAGE_URL": "s3://b?endpoint=http://x"}, "unknown parameter 'endpoint'"),
        ({"STUDIO_S3_ENDPOINT_URL": "http://127.0.0.1:9000"}, "STUDIO_S3_BUCKET"),
        ({"STUDIO_S3_BUCKET": "b", "STUDIO_S3_ENDPOINT_URL": "127.0.0.1:9000"}, "http:// or https://"),
        ({"STUDIO_S3_BUCKET": "b", "STUDIO_S3_ACCESS_KEY": "k"}, "both"),
        ({"STUDIO_S3_BUCKET": "b", "STUDIO_S3_ADDRESSING_STYLE": "dns"}, "ADDRESSING_STYLE"),
    ],
)
def test_a_wrong_storage_configuration_stops_the_studio_with_its_name(environ, says):
    with pytest.raises(ImproperlyConfigured, match=says):
        s3_options(environ)


SHOW = (
    "from django.conf import settings;"
    "print(settings.STORAGES['default']['BACKEND']);"
    "print(settings.STUDIO_MEDIA_REDIRECT, settings.STUDIO_S3_PROXY);"
    "print(settings.STORAGES['default'].get('OPTIONS', {}).get('querystring_expire'))"
)


def test_settings_pick_the_bucket_redirect_by_default_and_the_proxy_on_request(tmp_path):
    bucket = {"STUDIO_STORAGE_URL": "s3://studio-media?endpoint_url=http://127.0.0.1:9"}
    lines = manage("shell", "-v", "0", "-c", SHOW, env={}, data_dir=tmp_path).stdout.split()
    assert lines == ["django.core.files.storage.FileSystemStorage", "False", "False", "None"]
    lines = manage("shell", "-v", "0", "-c", SHOW, env=bucket, data_dir=tmp_path).stdout.split()
    assert lines == [BACKEND, "True", "False", "900"]
    proxied = {**bucket, "STUDIO_S3_PROXY": "1", "STUDIO_S3_URL_SECONDS": "60"}
    assert manage("shell", "-v", "0", "-c", SHOW, env=proxied, data_dir=tmp_path).stdout.split() == [
        BACKEND,
        "False",
        "True",
        "60",
    ]
    both = manage("check", env={**proxied, "STUDIO_MEDIA_REDIRECT": "1"}, data_dir=tmp_path)
    assert both.returncode != 0 and "STUDIO_S3_PROXY=1 streams through the studio" in both.stderr
    accel = manage("check", env={**bucket, "STUDIO_X_ACCEL_REDIRECT_PREFIX": "/p/"}, data_dir=tmp_path)
    assert accel.returncode != 0 and "for files on the local disk" in accel.stderr


# --- Storing ---------------------------------------------------------------------


def test_a_result_from_the_demo_provider_is_stored_in_the_bucket(s3, stored, team_a, settings):
    assert s3.keys() == sorted([stored.video.name, stored.poster.name])
    assert stored.video.name == f"teams/{team_a.code}/videos/{stored.code}.mp4"
    head = s3.client.head_object(Bucket=s3.bucket, Key=f"{s3.prefix}/{stored.video.name}")
    assert head["ContentLength"] == stored.video_bytes > 1000
    assert head["ContentType"] == "video/mp4"
    data = s3.body(stored.video.name)
    # The SHA-256 computed while downloading goes along with the object.
    assert head["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
    poster = s3.client.head_object(Bucket=s3.bucket, Key=f"{s3.prefix}/{stored.poster.name}")
    assert poster["ContentType"] == "image/jpeg"
    assert s3.body(stored.poster.name)[:3] == b"\xff\xd8\xff"
    # Nothing stays on the local disk: the temporary files are gone.
    assert local_files(settings) == []


def test_a_large_result_goes_up_in_parts_from_its_file(s3, tmp_path, settings):
    path = tmp_path / "big.bin"
    block = bytes(range(256)) * 4096  # 1 MB
    with open(path, "wb") as out:
        for _ in range(20):
            out.write(block)
    bucket = default_storage
    name = storage.place(bucket, path, "teams/x/videos/big.mp4", sha256="ab" * 32)
    head = s3.client.head_object(Bucket=s3.bucket, Key=f"{s3.prefix}/{name}")
    assert head["ContentLength"] == 20 * len(block)
    assert head["ETag"].strip('"').endswith("-3")  # a multipart upload: 8 + 8 + 4 MB
    assert head["Metadata"]["sha256"] == "ab" * 32
    # A name is never reused for other bytes: a second save gets a free name next to it.
    again = storage.place(bucket, path, "teams/x/videos/big.mp4")
    assert again != name and again.startswith("teams/x/videos/big_")


def test_stale_temporary_files_are_cleaned_with_a_bucket_too(s3, team_a, alice, settings):
    assert isinstance(services.file_storage(), MediaS3Storage)
    directory = storage.tmp_dir(services.file_storage())
    assert directory == Path(settings.MEDIA_ROOT) / "tmp"  # local room, not the bucket
    now = timezone.now()
    live = new_generation(team_a, alice)
    Generation.objects.filter(pk=live.pk).update(
        status=Status.DOWNLOADING, claimed_until=now + timedelta(minutes=5)
    )
    dead = new_generation(team_a, alice)
    Generation.objects.filter(pk=dead.pk).update(
        status=Status.DOWNLOADING, claimed_until=now - timedelta(minutes=5)
    )
    directory.mkdir(parents=True)
    live_file = directory / f"{services._tmp_name(Generation.objects.get(pk=live.pk))}.mp4.part"
    dead_file = directory / f"{services._tmp_name(Generation.objects.get(pk=dead.pk))}.mp4.part"
    live_file.write_bytes(b"x")
    dead_file.write_bytes(b"x")
    assert services.clean_tmp() == 1
    assert live_file.exists() and not dead_file.exists()


def test_deleting_a_generation_deletes_its_objects(
    s3, stored, alice_client, django_capture_on_commit_callbacks
):
    other = make_ready_generation(stored.team, None)
    assert len(s3.keys()) == 4
    with django_capture_on_commit_callbacks(execute=True):
        review.delete_generation(generation=stored)
    assert s3.keys() == sorted([other.video.name, other.poster.name])
    assert alice_client.get(video_url(stored)).status_code == 404


# --- Playing: presigned links (the default) ---------------------------------------


def test_playback_redirects_to_a_short_lived_link_that_answers_range(s3, stored, alice_client):
    response = alice_client.get(video_url(stored))
    assert response.status_code == 302
    assert response["Cache-Control"] == "private, no-store"
    location = response["Location"]
    assert location.startswith(f"{s3.endpoint_url}/{s3.bucket}/{s3.prefix}/teams/")
    query = parse_qs(urlsplit(location).query)
    assert query["X-Amz-Expires"] == ["900"] and "X-Amz-Signature" in query
    assert query["response-content-type"] == ["video/mp4"]
    data = s3.body(stored.video.name)
    ranged = httpx.get(location, headers={"Range": "bytes=5-14"})
    assert ranged.status_code == 206
    assert ranged.content == data[5:15]
    assert ranged.headers["Content-Range"] == f"bytes 5-14/{len(data)}"
    whole = httpx.get(location)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["Content-Type"] == "video/mp4"
    assert "content-disposition" not in whole.headers  # played, not downloaded

    poster = alice_client.get(poster_url(stored))
    assert poster.status_code == 302
    assert httpx.get(poster["Location"]).content == s3.body(stored.poster.name)


def test_the_download_link_says_attachment_with_the_files_name(s3, stored, alice_client):
    response = alice_client.get(video_url(stored, download="1"))
    assert response.status_code == 302
    fetched = httpx.get(response["Location"])
    assert fetched.status_code == 200
    disposition = fetched.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename=")
    assert f"-{str(stored.code)[:8]}.mp4" in disposition
    assert fetched.content == s3.body(stored.video.name)


def test_a_signed_link_names_the_public_endpoint_when_browsers_reach_the_bucket_elsewhere(
    s3, stored, alice_client, settings
):
    options = {**s3.options, "public_endpoint_url": "https://media.studio.example"}
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": BACKEND, "OPTIONS": options}}
    location = alice_client.get(video_url(stored))["Location"]
    assert location.startswith(f"https://media.studio.example/{s3.bucket}/{s3.prefix}/teams/")
    csp = alice_client.get(reverse("generation_detail", args=[stored.code]))["Content-Security-Policy"]
    assert "media-src 'self' https://media.studio.example" in csp


def test_another_teams_media_is_not_found_and_gets_no_link(s3, stored, charlie_client, settings):
    for url in (video_url(stored), video_url(stored, download="1"), poster_url(stored)):
        response = charlie_client.get(url)
        assert response.status_code == 404
        assert "Location" not in response
    settings.STUDIO_MEDIA_REDIRECT, settings.STUDIO_S3_PROXY = False, True
    assert charlie_client.get(video_url(stored), HTTP_RANGE="bytes=0-9").status_code == 404


def test_the_csp_allows_the_buckets_origin_for_media_only_when_it_is_used(s3, stored, alice_client, settings):
    def policy() -> dict[str, str]:
        header = alice_client.get(reverse("generation_detail", args=[stored.code]))["Content-Security-Policy"]
        return {part.split()[0]: part for part in header.split("; ")}

    redirected = policy()
    assert redirected["media-src"] == f"media-src 'self' {s3.endpoint_url}"
    assert redirected["img-src"] == f"img-src 'self' data: {s3.endpoint_url}"
    others = [part for name, part in redirected.items() if name not in ("media-src", "img-src")]
    assert not any(s3.endpoint_url in part for part in others)
    assert redirected["default-src"] == "default-src 'self'"
    assert redirected["connect-src"] == "connect-src 'self'"

    settings.STUDIO_MEDIA_REDIRECT, settings.STUDIO_S3_PROXY = False, True  # streamed from here
    assert policy()["media-src"] == "media-src 'self'"
    assert policy()["img-src"] == "img-src 'self' data:"


def test_a_bucket_without_credentials_is_unavailable_not_a_broken_page(
    s3, stored, alice_client, settings, monkeypatch
):
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    options = {name: value for name, value in s3.options.items() if name not in ("access_key", "secret_key")}
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": BACKEND, "OPTIONS": options}}
    page = alice_client.get(reverse("generation_detail", args=[stored.code]))
    assert page.status_code == 200
    assert "media-src 'self';" in page["Content-Security-Policy"]
    assert alice_client.get(video_url(stored)).status_code == 503


# --- Playing through the studio (STUDIO_S3_PROXY=1) --------------------------------


@pytest.fixture
def proxied(settings, s3):
    settings.STUDIO_MEDIA_REDIRECT, settings.STUDIO_S3_PROXY = False, True
    return s3


def test_the_proxy_answers_range_from_the_bucket(proxied, stored, alice_client):
    data = proxied.body(stored.video.name)
    response = alice_client.get(video_url(stored), HTTP_RANGE="bytes=100-1099")
    assert response.status_code == 206
    assert body(response) == data[100:1100]
    assert response["Content-Range"] == f"bytes 100-1099/{len(data)}"
    assert response["Content-Length"] == "1000"
    suffix = alice_client.get(video_url(stored), HTTP_RANGE="bytes=-10")
    assert suffix.status_code == 206 and body(suffix) == data[-10:]
    whole = alice_client.get(video_url(stored))
    assert whole.status_code == 200 and body(whole) == data
    assert whole["Accept-Ranges"] == "bytes" and "Last-Modified" in whole
    assert alice_client.get(video_url(stored), HTTP_IF_NONE_MATCH=whole["ETag"]).status_code == 304
    past = alice_client.get(video_url(stored), HTTP_RANGE=f"bytes={len(data)}-")
    assert past.status_code == 416 and past["Content-Range"] == f"bytes */{len(data)}"
    head = alice_client.head(video_url(stored))
    assert head.status_code == 200 and body(head) == b"" and head["Content-Length"] == str(len(data))
    download = alice_client.get(video_url(stored, download="1"))
    assert download["Content-Disposition"].startswith("attachment; filename=")
    assert body(alice_client.get(poster_url(stored)))[:3] == b"\xff\xd8\xff"


def test_a_range_is_one_ranged_read_not_the_whole_object(proxied, stored, alice_client, monkeypatch):
    asked = []
    real = MediaS3Storage.read_range

    def spy(self, name, first, length, **kw):
        asked.append((first, length))
        return real(self, name, first, length, **kw)

    monkeypatch.setattr(MediaS3Storage, "read_range", spy)
    monkeypatch.setattr(MediaS3Storage, "open", lambda *a, **kw: pytest.fail("opened the whole object"))
    assert len(body(alice_client.get(video_url(stored), HTTP_RANGE="bytes=10-19"))) == 10
    assert asked == [(10, 10)]


def test_a_missing_object_is_not_found_and_an_unreachable_bucket_is_unavailable(
    proxied, stored, alice_client, settings, s3_server
):
    proxied.client.delete_object(Bucket=proxied.bucket, Key=f"{proxied.prefix}/{stored.video.name}")
    assert alice_client.get(video_url(stored)).status_code == 404
    settings.STUDIO_MEDIA_REDIRECT, settings.STUDIO_S3_PROXY = True, False
    assert alice_client.get(video_url(stored)).status_code == 404  # checked before any link is given

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    options = options_for(s3_server, proxied.prefix, endpoint_url=f"http://127.0.0.1:{port}")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": BACKEND, "OPTIONS": {**options, "client_config": _no_retries()}},
    }
    response = alice_client.get(poster_url(stored))
    assert response.status_code == 503
    assert response["Retry-After"] == "30"


def _no_retries():
    from botocore.config import Config

    return Config(
        s3={"addressing_style": "path"},
        signature_version="s3v4",
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=2,
    )


# --- Moving an install's files: manage.py movefiles --------------------------------


@pytest.fixture
def on_the_folder(settings, s3):
    """The studio still on its local folder, the bucket configured for the command only."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }
    settings.STUDIO_MEDIA_REDIRECT = False
    return s3


def run_movefiles(*args: str) -> str:
    out = io.StringIO()
    call_command("movefiles", *args, stdout=out, verbosity=2)
    return out.getvalue()


def test_movefiles_copies_to_the_bucket_verified_and_a_second_run_copies_nothing(
    on_the_folder, team_a, alice, settings, alice_client
):
    generations = [make_ready_generation(team_a, alice) for _ in range(3)]
    names = sorted(name for g in generations for name in (g.video.name, g.poster.name))
    before = {name: (Path(settings.MEDIA_ROOT) / name).read_bytes() for name in names}

    output = run_movefiles("--to", "s3")
    assert "Done: 6 copied;" in output
    assert on_the_folder.keys() == names
    for name in names:
        assert on_the_folder.body(name) == before[name]
        head = on_the_folder.client.head_object(
            Bucket=on_the_folder.bucket, Key=f"{on_the_folder.prefix}/{name}"
        )
        assert head["Metadata"]["sha256"] == hashlib.sha256(before[name]).hexdigest()
    assert local_files(settings) == names  # kept without --delete-source
    modified = {
        name: on_the_folder.client.head_object(
            Bucket=on_the_folder.bucket, Key=f"{on_the_folder.prefix}/{name}"
        )["LastModified"]
        for name in names
    }

    again = run_movefiles("--to", "s3")
    assert "Done: 6 already there; 0 bytes copied." in again
    for name in names:
        key = f"{on_the_folder.prefix}/{name}"
        assert (
            on_the_folder.client.head_object(Bucket=on_the_folder.bucket, Key=key)["LastModified"]
            == modified[name]
        )

    # Switched over: the same rows play from the bucket.
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": BACKEND, "OPTIONS": on_the_folder.options},
    }
    settings.STUDIO_MEDIA_REDIRECT = True
    location = alice_client.get(video_url(generations[0]))["Location"]
    assert httpx.get(location).content == before[generations[0].video.name]


def test_a_stopped_run_to_the_bucket_goes_on_where_it_stopped(on_the_folder, team_a, alice, monkeypatch):
    generations = [make_ready_generation(team_a, alice) for _ in range(3)]
    real, calls = MediaS3Storage.put_file, []

    def killed_on_the_fourth(self, name, path, **kw):
        calls.append(name)
        if len(calls) == 4:
            raise KeyboardInterrupt  # as if the process were stopped midway
        return real(self, name, path, **kw)

    monkeypatch.setattr(MediaS3Storage, "put_file", killed_on_the_fourth)
    with pytest.raises(KeyboardInterrupt):
        run_movefiles("--to", "s3")
    assert len(on_the_folder.keys()) == 3
    monkeypatch.setattr(MediaS3Storage, "put_file", real)
    output = run_movefiles("--to", "s3")
    assert "Done: 3 already there, 3 copied;" in output
    assert len(on_the_folder.keys()) == 6 == 2 * len(generations)


def test_movefiles_brings_the_files_back_to_the_folder_and_resumes_a_stopped_run(
    s3, team_a, alice, settings, monkeypatch
):
    # Files stored on the bucket by the studio itself (no hash recorded: saved from memory).
    generations = [make_ready_generation(team_a, alice) for _ in range(2)]
    names = sorted(name for g in generations for name in (g.video.name, g.poster.name))
    data = {name: s3.body(name) for name in names}
    assert local_files(settings) == []

    real, reads = MediaS3Storage.read_range, []

    def stopped_midway(self, name, first, length, **kw):
        reads.append(name)
        if len(reads) == 3:  # the third file: some bytes written, then stopped
            chunks = real(self, name, first, length, chunk=100)
            yield next(chunks)
            raise KeyboardInterrupt
        yield from real(self, name, first, length, **kw)

    monkeypatch.setattr(MediaS3Storage, "read_range", stopped_midway)
    with pytest.raises(KeyboardInterrupt):
        run_movefiles("--to", "local")
    # No half file under a real name: only the verified ones are in place.
    assert not any(name.endswith(movefiles.PART_SUFFIX) for name in local_files(settings))
    assert len(local_files(settings)) == 2  # the first row's poster and video

    monkeypatch.setattr(MediaS3Storage, "read_range", real)
    output = run_movefiles("--to", "local", "--delete-source")
    assert "Done: 2 already there, 2 copied;" in output
    assert local_files(settings) == names
    for name in names:
        assert (Path(settings.MEDIA_ROOT) / name).read_bytes() == data[name]
    assert s3.keys() == []  # deleted, each after its copy was verified

    # Back on the folder, the rows play as before.
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }
    settings.STUDIO_MEDIA_REDIRECT = False
    assert "Done: 4 already moved;" in run_movefiles("--to", "local")


def test_a_copy_that_does_not_verify_keeps_its_source_and_fails_the_run(
    on_the_folder, team_a, alice, monkeypatch
):
    ready = make_ready_generation(team_a, alice)
    monkeypatch.setattr(movefiles, "_bucket_hash", lambda bucket, name, size: "0" * 64)
    with pytest.raises(CommandError, match="2 file"):
        run_movefiles("--to", "s3", "--delete-source")
    assert Path(ready.video.path).exists() and Path(ready.poster.path).exists()


def test_other_bytes_at_the_destination_are_a_conflict_left_alone(on_the_folder, team_a, alice):
    ready = make_ready_generation(team_a, alice)
    key = f"{on_the_folder.prefix}/{ready.video.name}"
    on_the_folder.client.put_object(Bucket=on_the_folder.bucket, Key=key, Body=b"other bytes")
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 file"):
        call_command("movefiles", "--to", "s3", "--delete-source", stdout=out, verbosity=1)
    assert f"conflict: {ready.video.name}" in out.getvalue()
    assert on_the_folder.body(ready.video.name) == b"other bytes"
    assert Path(ready.video.path).exists()
    assert not Path(ready.poster.path).exists()  # the poster copied, verified, then removed


def test_movefiles_needs_a_bucket(settings, team_a, alice):
    settings.STUDIO_S3 = {}
    with pytest.raises(CommandError, match="No bucket is configured"):
        run_movefiles("--to", "s3")


def test_a_dry_run_copies_nothing(on_the_folder, team_a, alice):
    make_ready_generation(team_a, alice)
    assert "Done: 2 to copy;" in run_movefiles("--to", "s3", "--dry-run")
    assert on_the_folder.keys() == []


# --- In a real browser: the player plays and seeks from the bucket under the CSP -----

SHOTS = Path("/work/notes/shots-s3")


def _wait_until(page, expression: str, timeout: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.05)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", ["presigned", "proxy"])
def test_the_player_plays_and_seeks_from_the_bucket_with_a_clean_console(mode, s3, stored, page, settings):
    from tests.conftest import sign_in

    if mode == "proxy":
        settings.STUDIO_MEDIA_REDIRECT, settings.STUDIO_S3_PROXY = False, True
    messages: list[str] = []
    page.on(
        "console",
        lambda m: messages.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
    from_bucket: list[int] = []
    page.on("response", lambda r: from_bucket.append(r.status) if r.url.startswith(s3.endpoint_url) else None)

    sign_in(page, "alice@example.org")
    page.goto("/")
    _wait_until(
        page, "[...document.querySelectorAll('img.gcard-poster')].some(i => i.complete && i.naturalWidth > 0)"
    )
    page.goto(f"/videos/{stored.code}/")
    _wait_until(page, "document.getElementById('player').readyState >= 1")
    page.evaluate("const v = document.getElementById('player'); v.muted = true; v.play()")
    _wait_until(page, "document.getElementById('player').currentTime > 0.2")
    page.evaluate("const v = document.getElementById('player'); v.pause(); v.currentTime = 2.0")
    _wait_until(page, "!document.getElementById('player').seeking")
    assert abs(page.evaluate("document.getElementById('player').currentTime") - 2.0) < 0.05
    if SHOTS.is_dir():  # a session's notes folder, to look at; absent in CI
        page.screenshot(path=str(SHOTS / f"player-{mode}.png"))
    if mode == "presigned":
        assert from_bucket and all(status in (200, 206) for status in from_bucket)
    else:
        assert from_bucket == []  # every byte came through the studio
    assert messages == []
