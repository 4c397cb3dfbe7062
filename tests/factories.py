"""Small builders for generations, shared by the gallery, media and pipeline tests.

`make_ready_generation` stores a real MP4 (H.264, faststart, with a silent AAC
track) and a JPEG poster, so media tests read real files the way a browser would.
The clip is encoded once per process and copied after that.
"""

from __future__ import annotations

import io
import re
import tempfile
import time
from datetime import timedelta
from fractions import Fraction
from functools import cache
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import av
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image, ImageDraw

from studio.accounts.models import Team
from studio.videos.models import POLLED, Generation, Status

DEFAULT_PROMPT = "A red fox trots through fresh snow at dawn, slow dolly shot, soft golden light"


def live_refresh(html: str) -> dict[str, str]:
    """What a gallery's live refresh asks with: the top card's cursor and the newest change seen (v)."""
    match = re.search(r'id="gallery-live"[^>]*hx-get="([^"]+)"', html)
    assert match, "no live refresh element"
    query = parse_qs(urlsplit(unescape(match.group(1))).query, keep_blank_values=True)
    return {"top": query["top"][0], "v": query["v"][0]}


def make_generation(team: Team, author: User | None, **fields: Any) -> Generation:
    """A generation row with sensible defaults; any field can be overridden."""
    prompt = fields.pop("prompt", DEFAULT_PROMPT)
    defaults: dict[str, Any] = {
        "prompt": prompt,
        "compiled_prompt": fields.pop("compiled_prompt", prompt),
        "duration": "5",
        "aspect_ratio": "16:9",
        "estimated_tokens": 28960,
        "estimated_usd": "0.434",
    }
    defaults.update(fields)
    generation = Generation.objects.create(team=team, author=author, **defaults)
    return generation


def poll_until_ready(generation: Generation, timeout: float = 60.0) -> Generation:
    """The worker's steps, called from the test: submit once, then poll until the video is stored.

    Each poll lapses the claim the last one left (which lasts until the sweep's next poll,
    5 s and backing off): the backoff is test_pipeline's subject; here the next poll goes
    as soon as the last answer is in, so the wait is the provider's, not the schedule's.
    """
    from studio.videos import services

    services.submit_generation(generation_id=generation.pk)
    deadline = time.monotonic() + timeout
    while True:
        generation.refresh_from_db()
        if generation.status == Status.READY:
            return generation
        assert generation.status not in (Status.FAILED, Status.UNKNOWN, Status.EXPIRED), (
            generation.error_message
        )
        assert time.monotonic() < deadline, f"still {generation.status} after {timeout} s"
        Generation.objects.filter(pk=generation.pk, status__in=POLLED).update(claimed_until=None)
        services.poll_generation(generation_id=generation.pk)
        time.sleep(0.1)


def make_one_between_two_approved(team: Team, author: User) -> tuple[Generation, Generation, Generation]:
    """Three finished generations, oldest first: approved, in review, approved (10 minutes apart).

    For the gallery filtered on Approved: the middle one starts to match when it is approved.
    """
    now = timezone.now()
    oldest, middle, newest = (
        make_generation(
            team,
            author,
            status=Status.READY,
            review_status=status,
            prompt=prompt,
            created=now - timedelta(minutes=minutes),
        )
        for minutes, status, prompt in (
            (30, "approved", "Oldest approved"),
            (20, "in_review", "Approved while the gallery is open"),
            (10, "approved", "Newest approved"),
        )
    )
    return oldest, middle, newest


@cache
def sample_mp4(width: int = 320, height: int = 180, seconds: int = 4, fps: int = 24) -> bytes:
    """A short H.264/AAC MP4 with the index at the front, so players seek at once."""
    # faststart rewrites the file in a second pass, which needs a real file.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sample.mp4"
        _encode_sample(path, width, height, seconds, fps)
        return path.read_bytes()


def _encode_sample(path: Path, width: int, height: int, seconds: int, fps: int) -> None:
    with av.open(str(path), mode="w", format="mp4", options={"movflags": "faststart"}) as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast", "g": str(fps)}
        audio = container.add_stream("aac", rate=44100)
        audio.layout = "mono"
        for index in range(seconds * fps):
            # A bar that sweeps across and a shade that changes each second:
            # frames differ, so seeking shows something different.
            image = Image.new("RGB", (width, height), (40 + 50 * (index // fps), 30, 90))
            x = int(width * (index % fps) / fps)
            ImageDraw.Draw(image).rectangle([x, 0, x + width // 10, height], fill=(255, 95, 168))
            frame = av.VideoFrame.from_image(image)
            container.mux(video.encode(frame))
        container.mux(video.encode())
        samples_per_frame = 1024
        silence = av.AudioFrame(format="fltp", layout="mono", samples=samples_per_frame)
        for plane in silence.planes:
            plane.update(bytes(plane.buffer_size))
        silence.sample_rate = 44100
        for index in range(seconds * 44100 // samples_per_frame):
            silence.pts = index * samples_per_frame
            silence.time_base = Fraction(1, 44100)
            container.mux(audio.encode(silence))
        container.mux(audio.encode())


@cache
def sample_poster(width: int = 320, height: int = 180) -> bytes:
    image = Image.new("RGB", (width, height), (40, 30, 90))
    ImageDraw.Draw(image).rectangle([0, 0, width // 10, height], fill=(255, 95, 168))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return out.getvalue()


def make_ready_generation(team: Team, author: User | None, **fields: Any) -> Generation:
    """A finished generation whose video and poster are real files in MEDIA_ROOT."""
    portrait = fields.get("aspect_ratio") == "9:16"
    width, height = (180, 320) if portrait else (320, 180)
    now = timezone.now()
    generation = make_generation(
        team,
        author,
        **{
            "status": Status.READY,
            "progress": 100,
            "task_id": "task-unified-1234567890-abcdef",
            "submitted_at": now,
            "completed_at": now,
            "ready_at": now,
            "usage": {"billing_rule": "per_call", "credits_reserved": 2.5, "user_group": "default"},
            "video_width": width,
            "video_height": height,
            "video_duration": 4.0,
            "video_fps": 24.0,
            "video_has_audio": True,
            **fields,
        },
    )
    data = sample_mp4(width, height)
    generation.video.save("video.mp4", ContentFile(data), save=False)
    generation.poster.save("poster.jpg", ContentFile(sample_poster(width, height)), save=False)
    generation.video_bytes = len(data)
    generation.save(update_fields=["video", "poster", "video_bytes", "updated"])
    return generation
