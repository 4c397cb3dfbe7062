"""The saving stage (issue 17): a poster from one decoded frame."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from PIL import Image, ImageChops, ImageStat

from studio.videos import storage
from tests import test_download_guard

sample_video = test_download_guard.sample_video


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
