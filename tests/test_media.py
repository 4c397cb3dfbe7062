"""The media views: access checks first, then HTTP Range done right (RFC 9110)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.urls import reverse

from tests.factories import make_generation, make_ready_generation


@pytest.fixture
def ready(team_a, alice):
    return make_ready_generation(team_a, alice)


def video_url(generation) -> str:
    return reverse("generation_video", args=[generation.code])


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_it_sends_the_whole_file_and_says_it_takes_ranges(alice_client, ready):
    response = alice_client.get(video_url(ready))
    data = ready.video.open("rb").read()
    assert response.status_code == 200
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Type"] == "video/mp4"
    assert response["Content-Length"] == str(len(data))
    assert response.streaming  # read in chunks, never whole into memory
    assert body(response) == data
    assert response["ETag"] and response["Last-Modified"]
    assert "private" in response["Cache-Control"]


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [("bytes=0-99", 0, 99), ("bytes=100-", 100, None), ("bytes=-500", None, None), ("bytes=10-10", 10, 10)],
)
def test_it_answers_a_range_with_206(alice_client, ready, header, first, last):
    data = ready.video.open("rb").read()
    size = len(data)
    if header == "bytes=-500":
        first, last = size - 500, size - 1
    last = size - 1 if last is None else last
    response = alice_client.get(video_url(ready), HTTP_RANGE=header)
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {first}-{last}/{size}"
    assert response["Content-Length"] == str(last - first + 1)
    assert body(response) == data[first : last + 1]


def test_a_range_past_the_end_is_clamped(alice_client, ready):
    size = ready.video.size
    response = alice_client.get(video_url(ready), HTTP_RANGE=f"bytes={size - 10}-{size + 1000}")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {size - 10}-{size - 1}/{size}"
    assert len(body(response)) == 10


def test_a_suffix_longer_than_the_file_gives_the_whole_file(alice_client, ready):
    size = ready.video.size
    response = alice_client.get(video_url(ready), HTTP_RANGE=f"bytes=-{size * 2}")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 0-{size - 1}/{size}"


@pytest.mark.parametrize("header", ["bytes={size}-", "bytes={size}-{bigger}", "bytes=-0"])
def test_an_unsatisfiable_range_gets_416(alice_client, ready, header):
    size = ready.video.size
    response = alice_client.get(video_url(ready), HTTP_RANGE=header.format(size=size, bigger=size + 9))
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{size}"


@pytest.mark.parametrize("header", ["bytes=abc", "bytes=5-2", "items=0-10", "bytes=", "bytes=-", "0-10"])
def test_a_malformed_range_is_ignored(alice_client, ready, header):
    response = alice_client.get(video_url(ready), HTTP_RANGE=header)
    assert response.status_code == 200
    assert len(body(response)) == ready.video.size


def test_several_ranges_get_the_whole_file(alice_client, ready):
    response = alice_client.get(video_url(ready), HTTP_RANGE="bytes=0-9,20-29")
    assert response.status_code == 200
    assert len(body(response)) == ready.video.size


def test_if_range_with_the_current_etag_honours_the_range(alice_client, ready):
    etag = alice_client.get(video_url(ready))["ETag"]
    response = alice_client.get(video_url(ready), HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=etag)
    assert response.status_code == 206


def test_if_range_with_a_stale_etag_sends_the_whole_file(alice_client, ready):
    response = alice_client.get(video_url(ready), HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"stale"')
    assert response.status_code == 200
    assert len(body(response)) == ready.video.size


def test_if_range_with_the_last_modified_date_honours_the_range(alice_client, ready):
    modified = alice_client.get(video_url(ready))["Last-Modified"]
    response = alice_client.get(video_url(ready), HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=modified)
    assert response.status_code == 206


def test_if_none_match_gets_304(alice_client, ready):
    etag = alice_client.get(video_url(ready))["ETag"]
    response = alice_client.get(video_url(ready), HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304
    assert response.content == b""


def test_head_sends_headers_only(alice_client, ready):
    response = alice_client.head(video_url(ready))
    assert response.status_code == 200
    assert response["Content-Length"] == str(ready.video.size)
    assert body(response) == b""


def test_download_sends_an_attachment_with_a_friendly_name(alice_client, ready):
    response = alice_client.get(video_url(ready) + "?download=1")
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert 'filename="omni-a-red-fox-trots-through-fresh' in disposition
    assert disposition.endswith(f'-{str(ready.code)[:8]}.mp4"')


def test_a_chinese_prompt_downloads_with_an_encoded_name(alice_client, team_a, alice):
    generation = make_ready_generation(team_a, alice, prompt="雪中的红狐狸 慢镜头")
    response = alice_client.get(video_url(generation) + "?download=1")
    assert "filename*=utf-8''omni-" in response["Content-Disposition"]


def test_behind_nginx_it_hands_the_file_over(alice_client, ready, settings):
    settings.STUDIO_X_ACCEL_REDIRECT_PREFIX = "/protected-media/"
    response = alice_client.get(video_url(ready), HTTP_RANGE="bytes=0-9")
    assert response.status_code == 200
    assert response.content == b""
    assert response["X-Accel-Redirect"] == f"/protected-media/{ready.video.name}"
    assert response["Content-Type"] == "video/mp4"


def test_the_poster_is_served(alice_client, ready):
    response = alice_client.get(reverse("generation_poster", args=[ready.code]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert body(response)[:3] == b"\xff\xd8\xff"


def test_a_reviewer_may_watch(bob_client, ready):
    response = bob_client.get(video_url(ready), HTTP_RANGE="bytes=0-9")
    assert response.status_code == 206


@pytest.mark.parametrize("name", ["generation_video", "generation_poster"])
def test_another_team_gets_404_even_with_the_exact_url(charlie_client, ready, name):
    response = charlie_client.get(reverse(name, args=[ready.code]), HTTP_RANGE="bytes=0-9")
    assert response.status_code == 404


@pytest.mark.parametrize("name", ["generation_video", "generation_poster"])
def test_signed_out_never_gets_the_bytes(client, ready, name):
    response = client.get(reverse(name, args=[ready.code]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_generation_without_a_file_is_404(alice_client, team_a, alice):
    generation = make_generation(team_a, alice)
    assert alice_client.get(video_url(generation)).status_code == 404
    assert alice_client.get(reverse("generation_poster", args=[generation.code])).status_code == 404


def test_a_file_missing_from_disk_is_404(alice_client, ready):
    ready.video.storage.delete(ready.video.name)
    assert alice_client.get(video_url(ready)).status_code == 404


def test_post_is_not_allowed(alice_client, ready):
    assert alice_client.post(video_url(ready)).status_code == 405


def test_media_is_not_under_a_public_url(alice_client, ready):
    assert alice_client.get("/media/" + ready.video.name).status_code == 404


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("bytes=" + "9" * 5000 + "-", 416),
        ("bytes=" + "9" * 30 + "-" + "9" * 40, 416),
        ("bytes=0-" + "9" * 5000, 206),
        ("bytes=-" + "9" * 5000, 206),
        ("bytes=10-" + "9" * 19, 206),
    ],
)
def test_huge_range_numbers_are_answered_not_a_500(alice_client, ready, header, status):
    size = ready.video.size
    for name in ("generation_video", "generation_poster"):
        response = alice_client.get(reverse(name, args=[ready.code]), HTTP_RANGE=header)
        assert response.status_code == status
    response = alice_client.get(video_url(ready), HTTP_RANGE=header)
    if status == 206:
        first = 10 if header.startswith("bytes=10-") else 0
        assert response["Content-Range"] == f"bytes {first}-{size - 1}/{size}"
    else:
        assert response["Content-Range"] == f"bytes */{size}"


class MemoryStorage(Storage):
    """A storage that is not the file system, with signed links, as an S3 backend would have.

    No modified times (get_modified_time is not implemented), like some backends.
    """

    files: dict[str, bytes] = {}

    def _save(self, name, content):
        self.files[name] = b"".join(content.chunks())
        return name

    def _open(self, name, mode="rb"):
        return ContentFile(self.files[name], name=name)

    def exists(self, name):
        return name in self.files

    def size(self, name):
        if name not in self.files:
            raise FileNotFoundError(name)
        return len(self.files[name])

    def delete(self, name):
        self.files.pop(name, None)

    def url(self, name):
        return f"https://bucket.example/{name}?X-Amz-Expires=300&X-Amz-Signature=abc"


@pytest.fixture
def in_memory(settings):
    MemoryStorage.files = {}
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "tests.test_media.MemoryStorage"}}
    return MemoryStorage.files


def test_another_backend_is_served_through_the_storage_api(alice_client, team_a, alice, in_memory, settings):
    ready = make_ready_generation(team_a, alice)
    data = in_memory[ready.video.name]
    assert not list(Path(settings.MEDIA_ROOT).rglob("*.mp4"))  # nothing went to the file system
    response = alice_client.get(video_url(ready), HTTP_RANGE="bytes=5-14")
    assert response.status_code == 206
    assert body(response) == data[5:15]
    etag = response["ETag"]
    assert "Last-Modified" not in response  # this backend has no modified times
    assert alice_client.get(video_url(ready), HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_a_backend_with_signed_links_is_redirected_to_after_the_access_check(
    client, charlie, team_a, alice, in_memory, settings
):
    settings.STUDIO_MEDIA_REDIRECT = True
    ready = make_ready_generation(team_a, alice)
    client.force_login(charlie)
    assert client.get(video_url(ready)).status_code == 404
    client.force_login(alice)
    response = client.get(video_url(ready))
    assert response.status_code == 302
    assert (
        response["Location"]
        == f"https://bucket.example/{ready.video.name}?X-Amz-Expires=300&X-Amz-Signature=abc"
    )
    assert "no-store" in response["Cache-Control"]


def test_deleting_goes_through_the_storage_api(alice, team_a, in_memory, django_capture_on_commit_callbacks):
    from studio.videos import review

    ready = make_ready_generation(team_a, alice)
    assert len(in_memory) == 2
    with django_capture_on_commit_callbacks(execute=True):
        review.delete_generation(generation=ready)
    assert in_memory == {}
