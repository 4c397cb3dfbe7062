"""The saving stage (issue 17): finished videos saved apart from the polls, a few at a time,
crash-safe as before; one download client per process that still checks every connection;
a poster from one decoded frame."""

from __future__ import annotations

import ipaddress
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import av
import pytest
from django.utils import timezone
from PIL import Image, ImageChops, ImageStat

from studio.lib.safehttp import UrlGuard
from studio.videos import services, storage, tasks
from studio.videos.models import Generation, Status
from studio.videos.saving import SaveStage
from tests import test_download_guard
from tests.test_pipeline import enqueued, new_generation, provider, reload, wait_for_provider

sample_video = test_download_guard.sample_video
server = test_download_guard.server
__all__ = ["enqueued", "provider"]  # fixtures


class Killed(BaseException):
    """Stands for a SIGKILL: nothing after it runs, nothing catches it."""


class DeadStage:
    """A saving stage whose process was killed before any of its saves began."""

    def __init__(self) -> None:
        self.handed: list[int] = []

    def hand(self, generation) -> bool:
        self.handed.append(generation.pk)
        return True


def finished(team, author, provider, count: int = 1) -> list[Generation]:
    generations = [new_generation(team, author) for _ in range(count)]
    for generation in generations:
        tasks.submit_generation(generation.pk)
    wait_for_provider(provider)
    return generations


def later(seconds: float = 30):
    return timezone.now() + timedelta(seconds=seconds)


# --- The hand-off: crash-safe, attempts counted when a save starts -----------------------------


def test_a_poll_hands_the_finished_video_over_and_a_later_sweep_saves_what_a_dead_stage_held(
    alice, team_a, provider
):
    (generation,) = finished(team_a, alice, provider)
    dead = DeadStage()
    report = services.sweep(threads=0, now=later(), saver=dead)
    assert report.done == {"poll": 1} and dead.handed == [generation.pk]
    row = reload(generation)
    # Recorded and left to the stage, unclaimed: no attempt is spent on a save that never began.
    assert (row.status, row.claimed_until, row.attempts) == (Status.DOWNLOADING, None, 0)
    assert row.result_url and row.completed_at
    assert row.next_poll_at >= timezone.now() + services.SAVE_HANDOFF_GRACE - timedelta(seconds=5)
    assert not services.sweep(threads=0)  # its grace is not over: the stage may still save it
    assert services.sweep(threads=0, now=row.next_poll_at + timedelta(seconds=1)).done == {"store": 1}
    row = reload(generation)
    assert row.status == Status.READY and row.video and row.poster


def test_a_save_killed_midway_counts_its_attempt_and_is_taken_on_once_its_claim_lapses(
    alice, team_a, provider, monkeypatch
):
    (generation,) = finished(team_a, alice, provider)
    services.sweep(threads=0, now=later(), saver=DeadStage())
    handed = Generation.objects.select_related("team").get(pk=generation.pk)

    def killed(*args, **kwargs):
        raise Killed

    monkeypatch.setattr(storage, "store_result", killed)
    with pytest.raises(Killed):
        services._store_again(handed)  # what the stage runs
    row = reload(generation)
    assert row.attempts == 1 and row.claimed_until > timezone.now()
    assert not services.sweep(threads=0, now=later(services.SAVE_HANDOFF_GRACE.total_seconds() + 1))
    monkeypatch.undo()
    Generation.objects.filter(pk=generation.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    # Due once both the claim and the hand-off grace are over (the grace as a clock moved on).
    assert services.sweep(threads=0, now=later(services.SAVE_HANDOFF_GRACE.total_seconds() + 1)).done == {
        "store": 1
    }
    row = reload(generation)
    assert row.status == Status.READY


def test_a_row_is_in_a_stages_hands_once(alice, team_a, provider, monkeypatch):
    (generation,) = finished(team_a, alice, provider)
    release = threading.Event()
    monkeypatch.setattr(services, "_store_again", lambda g: release.wait(60))
    stage = SaveStage(2)
    try:
        assert stage.hand(generation) is True
        assert stage.hand(generation) is False
        assert stage.in_hand() == {generation.pk}
    finally:
        release.set()
        stage.close()
    assert stage.in_hand() == set()


# --- Apart from the polls, and bounded -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_saves_run_two_at_a_time_and_never_hold_up_the_polls(alice, team_a, provider, monkeypatch):
    provider.server.generation_seconds = 0.3
    finished(team_a, alice, provider, count=6)
    lock, release = threading.Lock(), threading.Event()
    running: list[int] = []
    most = [0]
    store = services._store

    def slow_store(generation):
        with lock:
            running.append(generation.pk)
            most[0] = max(most[0], len(running))
        release.wait(60)
        try:
            store(generation)
        finally:
            with lock:
                running.remove(generation.pk)

    monkeypatch.setattr(services, "_store", slow_store)
    stage = SaveStage(2)
    try:
        report = services.sweep(threads=8, now=later(), saver=stage)
        # The pass ended with every poll recorded while no save has finished.
        assert report.done == {"poll": 6} and report.errors == 0
        assert {g.status for g in Generation.objects.all()} == {Status.DOWNLOADING}
        deadline = time.monotonic() + 60
        while len(running) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(running) == 2 and len(stage.in_hand()) == 6
        # Meanwhile a new generation is submitted and polled as usual.
        (newcomer,) = finished(team_a, alice, provider)
        assert services.sweep(threads=8, now=later(), saver=stage).done == {"poll": 1}
        assert reload(newcomer).status == Status.DOWNLOADING
        release.set()
        stage.wait()
    finally:
        release.set()
        stage.close()
    assert most[0] == 2
    assert {g.status for g in Generation.objects.all()} == {Status.READY}
    assert stage.saved == 7 and stage.errors == 0


# --- One download client per process, every connection still checked --------------------------


@dataclass(frozen=True, eq=False)
class SwitchingDNS(UrlGuard):
    """A guard whose one name answers what `answers` holds now,
    and which allows only 127.0.0.1: stands in for a CDN whose DNS answer changes."""

    answers: list = field(default_factory=list)
    asked: list = field(default_factory=list)

    # Each one its own guard (UrlGuard's equality compares its two flags only).
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def resolve(self, host, port):
        self.asked.append(host)
        return [ipaddress.ip_address(a) for a in self.answers]

    def allows(self, address):
        return str(address) == "127.0.0.1"


class KeepAlive(test_download_guard.Handler):
    protocol_version = "HTTP/1.1"  # /video has a Content-Length: the connection stays open


@pytest.fixture
def keepalive_server(sample_video):
    from http.server import ThreadingHTTPServer

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), KeepAlive)
    httpd.seen, httpd.video, httpd.stopping = [], sample_video, threading.Event()
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.stopping.set()
    httpd.shutdown()
    httpd.server_close()


def test_downloads_share_one_client_which_checks_each_new_connection(server, tmp_path, monkeypatch):
    guard = SwitchingDNS(allow_http=True, answers=["127.0.0.1"])
    made = []
    real = UrlGuard.client
    monkeypatch.setattr(UrlGuard, "client", lambda self, **kw: made.append(self) or real(self, **kw))
    url = f"http://cdn.test:{server.server_port}/video"  # HTTP/1.0: a new connection each time
    storage.fetch(url, tmp_path / "a.part", guard=guard, max_bytes=10_000_000)
    storage.fetch(url, tmp_path / "b.part", guard=guard, max_bytes=10_000_000)
    guard.answers[:] = ["10.0.0.8"]  # the name now points into the studio's own network
    with pytest.raises(storage.UnsafeResultURL, match="non-public address"):
        storage.fetch(url, tmp_path / "c.part", guard=guard, max_bytes=10_000_000)
    assert made == [guard]  # one client for the three
    assert guard.asked == ["cdn.test"] * 3  # and each connection checked where it was opened
    assert not (tmp_path / "c.part").exists()


def test_a_kept_alive_connection_stays_on_the_address_that_was_checked(keepalive_server, tmp_path):
    guard = SwitchingDNS(allow_http=True, answers=["127.0.0.1"])
    url = f"http://cdn.test:{keepalive_server.server_port}/video"
    storage.fetch(url, tmp_path / "a.part", guard=guard, max_bytes=10_000_000)
    guard.answers[:] = ["10.0.0.8"]
    # The connection opened to the checked 127.0.0.1 is reused; nothing resolves again, so a
    # changed answer cannot move it, and a new connection would meet the check above.
    storage.fetch(url, tmp_path / "b.part", guard=guard, max_bytes=10_000_000)
    assert guard.asked == ["cdn.test"]
    assert (tmp_path / "b.part").stat().st_size == keepalive_server.video.stat().st_size
    storage.download_client(guard).close()


def test_a_guard_allowing_private_results_never_lends_its_connections():
    assert storage.download_client(UrlGuard(allow_private=True)) is storage.download_client(
        UrlGuard(allow_private=True)
    )
    assert storage.download_client(UrlGuard(allow_private=True)) is not storage.download_client(UrlGuard())


# --- The poster -----------------------------------------------------------------------------


def _frame_at(video: Path, at: float) -> Image.Image:
    with av.open(str(video)) as container:
        for frame in container.decode(video=0):
            if frame.time is not None and frame.time >= at:
                return frame.to_image().convert("RGB")
    raise AssertionError(f"no frame at {at}s")


def _difference(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean)


class _CountingFrames:
    """av.open's container, whose decoded frames count how many become pictures."""

    def __init__(self, container, converted: list) -> None:
        self._container, self._converted = container, converted

    def __getattr__(self, name):
        return getattr(self._container, name)

    def __enter__(self):
        self._container.__enter__()
        return self

    def __exit__(self, *exc):
        return self._container.__exit__(*exc)

    def decode(self, *args, **kwargs):
        for frame in self._container.decode(*args, **kwargs):
            yield _CountingFrame(frame, self._converted)


class _CountingFrame:
    def __init__(self, frame, converted: list) -> None:
        self._frame, self._converted = frame, converted

    def __getattr__(self, name):
        return getattr(self._frame, name)

    def to_image(self, *args, **kwargs):
        self._converted.append(self._frame.time)
        return self._frame.to_image(*args, **kwargs)


def test_the_poster_is_the_frame_a_second_in_and_only_that_frame_becomes_a_picture(
    sample_video, tmp_path, monkeypatch
):
    converted: list = []
    real_open = av.open
    monkeypatch.setattr(av, "open", lambda *a, **k: _CountingFrames(real_open(*a, **k), converted))
    poster = tmp_path / "poster.jpg"
    storage.make_poster(sample_video, poster)
    assert len(converted) == 1 and converted[0] >= storage.POSTER_AT_SECONDS
    monkeypatch.undo()
    with Image.open(poster) as image:
        picture = image.convert("RGB")
    # The clip's clock and progress bar move every frame: the poster is the frame at 1 s, not the first.
    assert _difference(picture, _frame_at(sample_video, 1.0)) < _difference(
        picture, _frame_at(sample_video, 0)
    )


def test_a_clip_shorter_than_the_poster_time_gets_its_last_frame(tmp_path):
    from studio.demoprovider.render import tiny_clip

    poster = tmp_path / "poster.jpg"
    storage.make_poster(tiny_clip(width=720, height=1280, seconds=1), poster, at=5.0)
    with Image.open(poster) as image:
        assert image.size == (720, 1280)


def test_a_file_with_no_frame_is_not_a_video(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"\0" * 1024)
    with pytest.raises(storage.NotAVideo):
        storage.make_poster(path, tmp_path / "poster.jpg")
