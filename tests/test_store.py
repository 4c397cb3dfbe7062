"""Saving a finished video: every attempt counted, every failure ends true, nothing left behind."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from studio.videos import review, services, storage
from studio.videos.models import Generation, Status
from tests import test_download_guard
from tests.factories import make_generation

# A result server on loopback (routes /video, /trickle, /gone, /redirect, ...), shared with the guard tests.
sample_video = test_download_guard.sample_video
server = test_download_guard.server


class Killed(BaseException):
    """Stands for a SIGKILL: nothing after it runs, nothing catches it."""


@pytest.fixture
def media(settings) -> Path:
    settings.STUDIO_ALLOW_PRIVATE_RESULT_URLS = True  # the result server is on loopback
    return Path(settings.MEDIA_ROOT)


def files(media: Path) -> list[str]:
    return (
        sorted(str(p.relative_to(media)) for p in media.rglob("*") if p.is_file()) if media.exists() else []
    )


def downloading(team, author, url: str, **fields) -> Generation:
    """A generation whose result link is due to be saved, nobody holding it."""
    values = {
        "status": Status.DOWNLOADING,
        "result_url": url,
        "completed_at": timezone.now(),
        "task_id": "t-1",
    }
    return make_generation(team, author, **{**values, **fields})


def store(generation: Generation) -> Generation:
    """One attempt, as the sweep makes it; returns the row as it is afterwards."""
    assert services._store_again(Generation.objects.select_related("team").get(pk=generation.pk))
    return Generation.objects.get(pk=generation.pk)


def lapse(generation: Generation) -> None:
    Generation.objects.filter(pk=generation.pk).update(
        claimed_until=timezone.now() - timedelta(seconds=1), next_poll_at=None
    )


def last_attempt(generation: Generation) -> None:
    Generation.objects.filter(pk=generation.pk).update(attempts=services.MAX_DOWNLOAD_ATTEMPTS - 1)


# --- A download always ends, and every attempt counts -------------------------------------


def test_a_trickling_result_ends_in_a_counted_attempt_then_a_failure(team_a, alice, server, media, settings):
    settings.STUDIO_MAX_VIDEO_BYTES = 20 * 1024
    settings.STUDIO_DOWNLOAD_MIN_KBPS = 10  # 2 s in all; the server sends 1 KB every 200 ms
    generation = downloading(team_a, alice, f"http://127.0.0.1:{server.server_port}/trickle")
    generation = store(generation)
    assert generation.status == Status.DOWNLOADING
    assert generation.attempts == 1 and generation.claimed_until is None
    assert "too slowly" in generation.error_message and "try again" in generation.error_message

    last_attempt(generation)
    lapse(generation)
    generation = store(generation)
    assert generation.status == Status.FAILED
    assert generation.attempts == services.MAX_DOWNLOAD_ATTEMPTS
    assert "too slowly" in generation.error_message
    assert "try again" not in generation.error_message
    assert files(media) == []


def test_an_attempt_killed_midway_is_counted_and_the_last_one_ends_the_row(
    team_a, alice, server, media, monkeypatch
):
    def killed(*args, **kwargs):
        raise Killed

    monkeypatch.setattr(storage, "store_result", killed)
    generation = downloading(team_a, alice, f"http://127.0.0.1:{server.server_port}/video")
    with pytest.raises(Killed):
        store(generation)
    generation = Generation.objects.get(pk=generation.pk)
    assert generation.attempts == 1 and generation.status == Status.DOWNLOADING

    # Every try killed: once they are spent, the next sweep ends the row instead of trying again.
    Generation.objects.filter(pk=generation.pk).update(attempts=services.MAX_DOWNLOAD_ATTEMPTS)
    lapse(generation)
    generation = store(generation)
    assert generation.status == Status.FAILED
    assert "stopped midway" in generation.error_message and "try again" not in generation.error_message


def test_the_first_attempt_is_counted_as_the_provider_says_completed(team_a, alice):
    generation = make_generation(team_a, alice, status=Status.PROCESSING, task_id="t-1")
    assert generation.claim(statuses=[Status.PROCESSING], seconds=60)
    assert generation.mark_completed(
        result_url="https://cdn.example/v.mp4", usage={}, raw={}, claim_seconds=60
    )
    assert Generation.objects.get(pk=generation.pk).attempts == 1


@pytest.mark.parametrize(
    "path",
    [
        "https://127.0.0.1:99999/x",
        "https://[::1/x",
        "/redirect?to=http://127.0.0.1:99999/x",
    ],
)
def test_a_malformed_result_url_fails_the_generation_with_a_clear_message(team_a, alice, server, media, path):
    url = path if path.startswith("https:") else f"http://127.0.0.1:{server.server_port}{path}"
    generation = store(downloading(team_a, alice, url))
    assert generation.status == Status.FAILED
    assert generation.attempts == 1
    assert generation.error_message == "The provider's download link is not a valid address."
    assert files(media) == []


def test_any_exception_while_saving_is_a_counted_retry_then_a_failure(
    team_a, alice, server, media, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("the storage backend is down")

    monkeypatch.setattr(storage.Storage, "save", broken)
    generation = downloading(team_a, alice, f"http://127.0.0.1:{server.server_port}/video")
    generation = store(generation)
    assert generation.status == Status.DOWNLOADING and generation.attempts == 1
    assert "unexpected error (RuntimeError)" in generation.error_message

    last_attempt(generation)
    lapse(generation)
    generation = store(generation)
    assert generation.status == Status.FAILED
    assert "could not save the finished video after 8 tries" in generation.error_message
    assert files(media) == []


# --- A link that answers 404 ---------------------------------------------------------------


def test_a_young_link_that_is_not_found_is_not_called_expired(team_a, alice, server, media):
    generation = store(downloading(team_a, alice, f"http://127.0.0.1:{server.server_port}/missing"))
    assert generation.status == Status.DOWNLOADING
    assert "could not be found" in generation.error_message and "expired" not in generation.error_message

    last_attempt(generation)
    lapse(generation)
    generation = store(generation)
    assert generation.status == Status.FAILED
    assert "could not be found at its download link (HTTP 404)" in generation.error_message
    assert "expired" not in generation.error_message and "try again" not in generation.error_message


def test_a_link_older_than_24_hours_that_is_not_found_has_expired(team_a, alice, server, media):
    old = timezone.now() - timedelta(hours=25)
    url = f"http://127.0.0.1:{server.server_port}/gone"
    generation = store(downloading(team_a, alice, url, completed_at=old))
    assert generation.status == Status.EXPIRED
    assert "expired (links last 24 hours)" in generation.error_message


# --- Temporary files -----------------------------------------------------------------------


def test_temporary_files_go_as_soon_as_no_claim_could_write_them(team_a, alice, media):
    now = timezone.now()
    live = downloading(team_a, alice, "https://cdn.example/v.mp4", claimed_until=now + timedelta(minutes=5))
    lapsed = downloading(team_a, alice, "https://cdn.example/v.mp4", claimed_until=now - timedelta(seconds=1))
    ready = make_generation(team_a, alice, status=Status.READY, claimed_until=None)
    retaken = downloading(
        team_a, alice, "https://cdn.example/v.mp4", claimed_until=now + timedelta(minutes=5)
    )
    tmp = media / "tmp"
    tmp.mkdir(parents=True)
    names = {
        "live": services._tmp_name(live),
        "lapsed": services._tmp_name(lapsed),
        "ready": f"{ready.code}_1",
        "gone": f"{uuid.uuid4()}_1",
        "retaken": f"{retaken.code}_1",  # an earlier claim of a row claimed again since
        "foreign": "download-xyz",
    }
    for name in names.values():
        (tmp / f"{name}.mp4.part").write_bytes(b"half a file")
    assert services.clean_tmp() == 5
    assert files(media) == [f"tmp/{names['live']}.mp4.part"]


def test_a_store_removes_what_a_killed_download_left(team_a, alice, server, media):
    generation = downloading(team_a, alice, f"http://127.0.0.1:{server.server_port}/video")
    tmp = media / "tmp"
    tmp.mkdir(parents=True)
    (tmp / f"{generation.code}_1.mp4.part").write_bytes(b"half a file")
    generation = store(generation)
    assert generation.status == Status.READY
    assert files(media) == sorted([generation.video.name, generation.poster.name])


def test_files_a_killed_try_placed_are_replaced_not_left(team_a, alice, server, media):
    generation = downloading(team_a, alice, f"http://127.0.0.1:{server.server_port}/video")
    leftover = media / f"teams/{team_a.code}/posters/{generation.code}.jpg"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"a poster from a try that was killed before the video")
    generation = store(generation)
    assert generation.status == Status.READY
    assert files(media) == sorted([generation.video.name, generation.poster.name])
    assert generation.poster.open("rb").read(3) == b"\xff\xd8\xff"


# --- Deleting while saving -----------------------------------------------------------------


@pytest.mark.parametrize("run", range(3))
def test_deleting_while_saving_leaves_no_file(
    team_a, alice, server, media, monkeypatch, django_capture_on_commit_callbacks, run
):
    real = storage.store_result

    def store_then_delete(*args, **kwargs):
        stored = real(*args, **kwargs)
        # Someone deletes the generation in the moment between the files and the row.
        with django_capture_on_commit_callbacks(execute=True):
            review.delete_generation(generation=Generation.objects.get(pk=generation.pk))
        return stored

    monkeypatch.setattr(storage, "store_result", store_then_delete)
    generation = downloading(team_a, alice, f"http://127.0.0.1:{server.server_port}/video")
    services._store_again(Generation.objects.select_related("team").get(pk=generation.pk))
    assert not Generation.objects.filter(pk=generation.pk).exists()
    assert files(media) == []


def test_deleting_a_page_loaded_before_the_save_finished_removes_the_files(
    team_a, alice, server, media, django_capture_on_commit_callbacks
):
    generation = downloading(team_a, alice, f"http://127.0.0.1:{server.server_port}/video")
    as_the_page_saw_it = Generation.objects.get(pk=generation.pk)
    assert store(generation).status == Status.READY
    with django_capture_on_commit_callbacks(execute=True):
        review.delete_generation(generation=as_the_page_saw_it)
    assert files(media) == []
