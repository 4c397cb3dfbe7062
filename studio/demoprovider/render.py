"""The demo provider's videos: a real MP4 for a prompt, or a plain one made once per process.

Both are H.264 720p (1280x720 or 720x1280), 24 fps, yuv420p, with an AAC track,
``faststart`` (the index before the data), and as long as the task asked, so a
studio cannot tell them apart by their shape:

- ``render_video`` draws the prompt's words over a moving gradient with a tone
  (about 0.7 s of CPU per second of video on a small machine);
- ``tiny_clip`` is one still colour and silence, encoded once per shape per
  process and shared by every task that asks (a few KB, milliseconds after the
  first), for tests that do not look at the picture.
"""

from __future__ import annotations

import atexit
import colorsys
import contextlib
import functools
import hashlib
import logging
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
from array import array
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

FPS = 24
SAMPLE_RATE = 48000
RENDERS = ("full", "tiny")

log = logging.getLogger("studio.demoprovider")

_DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
_NOTO_CJK = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"
# Where a font that draws Chinese usually is: Debian/Ubuntu (fonts-noto-cjk, which tests/run.sh
# installs, or fonts-wqy-zenhei), Fedora, Arch, macOS and Windows. Any other is found through
# fontconfig, or named by STUDIO_DEMO_CJK_FONT.
_CJK_FONTS = (
    _NOTO_CJK,
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/STHeiti Medium.ttc",
    "/Library/Fonts/Arial Unicode.ttf",
    "C:/Windows/Fonts/msyhbd.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)
_CJK = re.compile(r"[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff00-\uffef]")


class RenderCancelled(Exception):
    """The server stopped while a clip was being encoded."""


def prompt_digest(prompt: str) -> bytes:
    return hashlib.sha256(prompt.encode("utf-8")).digest()


def pick_duration(prompt: str, duration: int | str) -> int:
    """`auto` becomes 3..10 seconds, the same for the same prompt."""
    if duration == "auto":
        return 3 + prompt_digest(prompt)[2] % 8
    return int(duration)


def pick_size(prompt: str, aspect_ratio: str) -> tuple[int, int]:
    if aspect_ratio == "auto":
        aspect_ratio = "16:9" if prompt_digest(prompt)[3] % 2 == 0 else "9:16"
    return (720, 1280) if aspect_ratio == "9:16" else (1280, 720)


# --- Encoding, shared by both kinds of clip ---------------------------------------------


def _encode(
    path: str | Path,
    *,
    width: int,
    height: int,
    frames: Iterable[Any],
    audio: Callable[[int], Iterable[bytes]],
    crf: str = "28",
) -> None:
    """Mux PIL frames and mono float32 audio blocks (asked for by frame size) into an MP4."""
    import av

    container = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
    try:
        video = container.add_stream("libx264", rate=FPS, options={"preset": "veryfast", "crf": crf})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = container.add_stream("aac", rate=SAMPLE_RATE)
        sound.layout = "mono"
        for image in frames:
            for packet in video.encode(av.VideoFrame.from_image(image)):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)

        pts = 0
        for chunk in audio(sound.codec_context.frame_size or 1024):
            samples = len(chunk) // 4
            audio_frame = av.AudioFrame(format="fltp", layout="mono", samples=samples)
            audio_frame.planes[0].update(chunk)
            audio_frame.sample_rate = SAMPLE_RATE
            audio_frame.pts = pts
            pts += samples
            for packet in sound.encode(audio_frame):
                container.mux(packet)
        for packet in sound.encode():
            container.mux(packet)
    except BaseException:
        # A cancelled or failed encode leaves a partial file nobody will serve.
        with contextlib.suppress(Exception):
            container.close()
        raise
    container.close()


# --- The full clip: the prompt's words over a moving gradient ---------------------------


def _fontconfig_cjk_fonts() -> list[str]:
    """Fonts fontconfig says cover Simplified Chinese, bold and sans first (none without fc-list)."""
    if not shutil.which("fc-list"):
        return []
    try:
        listed = subprocess.run(
            ["fc-list", ":lang=zh-cn", "file", "style"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    fonts = [line.partition(":") for line in listed.splitlines() if line.strip()]
    # Sans before serif, bold before the rest: the prompt is drawn as a bold caption.
    fonts.sort(key=lambda font: ("Serif" in font[0], "Bold" not in font[2]))
    return [path.strip() for path, _colon, _style in fonts]


@functools.cache
def cjk_font_path() -> str | None:
    """A font file that draws Chinese, looked for once per process; None when there is none.

    Without one, a Chinese prompt's characters come out as empty boxes: that is said once in the
    log, with what to install, and the clip is still made.
    """
    named = os.environ.get("STUDIO_DEMO_CJK_FONT", "").strip()
    for path in [*([named] if named else []), *_CJK_FONTS, *_fontconfig_cjk_fonts()]:
        if os.path.isfile(path):
            return path
    log.warning(
        "demo provider: no font that draws Chinese was found, so Chinese prompts show as boxes in the "
        "demo clips. Install one (Debian/Ubuntu: apt-get install fonts-noto-cjk) or set "
        "STUDIO_DEMO_CJK_FONT to a .ttf/.ttc/.otf file."
    )
    return None


def _font(size: int, cjk: bool):
    from PIL import ImageFont

    cjk_path = cjk_font_path() if cjk else None
    for path in (cjk_path, _DEJAVU) if cjk else (_DEJAVU, _NOTO_CJK):
        if path and os.path.exists(path):
            with contextlib.suppress(OSError):
                return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def _wrap(draw, text: str, font, width: int) -> list[str]:
    """Greedy wrap by words, or by characters for text without spaces (Chinese)."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        tokens = re.findall(r"\S+\s*", paragraph) if not _CJK.search(paragraph) else list(paragraph)
        line = ""
        for token in tokens:
            candidate = line + token
            if line and draw.textlength(candidate.rstrip(), font=font) > width:
                lines.append(line.rstrip())
                line = token.lstrip()
            else:
                line = candidate
        lines.append(line.rstrip())
    return lines


def _text_layer(prompt: str, width: int, height: int):
    """The prompt's words on a translucent panel, as small an RGBA image as possible."""
    from PIL import Image, ImageDraw

    cjk = bool(_CJK.search(prompt))
    margin = width // 16
    box_width = width - 2 * margin
    max_height = int(height * 0.7)
    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    size = 64 if width > height else 56
    while True:
        font = _font(size, cjk)
        lines = _wrap(probe, prompt, font, box_width - 40)
        line_height = int(size * 1.25)
        if len(lines) * line_height + 40 <= max_height or size <= 22:
            break
        size -= 4
    max_lines = max(1, (max_height - 40) // line_height)
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], lines[max_lines - 1][:40] + "…"]
    panel = Image.new("RGBA", (box_width, len(lines) * line_height + 40), (0, 0, 0, 110))
    draw = ImageDraw.Draw(panel)
    for i, line in enumerate(lines):
        draw.text((20, 20 + i * line_height), line, font=font, fill=(255, 255, 255, 255))
    return panel, (margin, (height - panel.height) // 2)


def _palette(digest: bytes) -> tuple[tuple[int, int, int], ...]:
    hue = digest[0] / 255
    colours = (
        colorsys.hsv_to_rgb(hue, 0.7, 0.75),
        colorsys.hsv_to_rgb((hue + 0.12) % 1, 0.8, 0.3),
        colorsys.hsv_to_rgb((hue + 0.5) % 1, 0.45, 0.95),
    )
    return tuple(tuple(int(c * 255) for c in colour) for colour in colours)


def _tone(digest: bytes, total_samples: int, block: int = 1024) -> Iterator[bytes]:
    """A sine tone (pitch from the prompt) with soft fades and a slow swell, as float32 blocks."""
    # A pentatonic scale keeps neighbouring clips from sounding like alarms.
    frequency = (220.0, 247.5, 277.2, 330.0, 370.0, 440.0)[digest[1] % 6] * (1 + digest[4] % 2)
    fade = SAMPLE_RATE // 3
    step = 2 * math.pi * frequency / SAMPLE_RATE
    swell = 2 * math.pi * 0.25 / SAMPLE_RATE
    for start in range(0, total_samples, block):
        count = min(block, total_samples - start)
        samples = array("f")
        for n in range(start, start + count):
            envelope = min(1.0, n / fade, (total_samples - n) / fade) * (0.75 + 0.25 * math.sin(swell * n))
            samples.append(0.25 * envelope * math.sin(step * n))
        yield samples.tobytes()


def render_video(
    path: str | Path,
    *,
    prompt: str,
    duration: int | str = 5,
    aspect_ratio: str = "16:9",
    cancel: threading.Event | None = None,
) -> dict:
    """Encode the clip for a prompt into path; returns width, height, seconds.

    Frames are streamed to the encoder one at a time. The background is one
    wide gradient made once and cropped at a moving offset, so each frame costs
    a crop, two ellipses and a paste rather than a full redraw.
    """
    from PIL import Image, ImageDraw, ImageFont

    seconds = pick_duration(prompt, duration)
    width, height = pick_size(prompt, aspect_ratio)
    digest = prompt_digest(prompt)
    light, dark, accent = _palette(digest)

    # A gradient light -> dark -> light, twice the frame wide, so a crop that
    # slides by one frame width over the clip loops seamlessly.
    ramp = Image.linear_gradient("L").rotate(90, expand=True).resize((width, height))
    half = Image.composite(
        Image.new("RGB", (width, height), dark), Image.new("RGB", (width, height), light), ramp
    )
    strip = Image.new("RGB", (width * 2, height))
    strip.paste(half, (0, 0))
    strip.paste(half.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (width, 0))
    panel, panel_at = _text_layer(prompt, width, height)
    clock_font = (
        ImageFont.truetype(_DEJAVU, 28) if os.path.exists(_DEJAVU) else ImageFont.load_default(size=28)
    )
    radius = min(width, height) // 6
    frames = seconds * FPS

    def pictures() -> Iterator[Any]:
        for i in range(frames):
            if cancel is not None and cancel.is_set():
                raise RenderCancelled
            t = i / FPS
            offset = int(i / frames * width)
            frame = strip.crop((offset, 0, offset + width, height))
            draw = ImageDraw.Draw(frame)
            cx = int(width / 2 + width / 3 * math.sin(t * 0.9 + digest[5]))
            cy = int(height / 2 + height / 3 * math.cos(t * 1.3 + digest[6]))
            draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=accent)
            draw.ellipse(
                (width - cx - radius // 2, cy - radius // 2, width - cx + radius // 2, cy + radius // 2),
                fill=dark,
            )
            frame.paste(panel, panel_at, panel)
            # A running clock and a progress bar, so reviewers can point at moments.
            draw.rectangle((0, height - 8, int(width * (i + 1) / frames), height), fill=(255, 255, 255))
            draw.text((24, height - 52), f"{t:05.2f}s / {seconds}s", font=clock_font, fill=(255, 255, 255))
            yield frame

    _encode(
        path,
        width=width,
        height=height,
        frames=pictures(),
        audio=lambda block: _tone(digest, seconds * SAMPLE_RATE, block),
    )
    return {"width": width, "height": height, "seconds": seconds}


# --- The tiny clip: a still colour, made once per shape per process --------------------

_tiny_lock = threading.Lock()
_tiny_clips: dict[tuple[int, int, int], Path] = {}
_tiny_dir: list[Path] = []  # made on first use, removed when the process exits


def _silence(total_samples: int, block: int) -> Iterator[bytes]:
    for start in range(0, total_samples, block):
        yield bytes(4 * min(block, total_samples - start))


def tiny_clip(*, width: int, height: int, seconds: int) -> Path:
    """The path of a plain clip of this shape; shared, so callers must not delete it."""
    from PIL import Image

    shape = (width, height, seconds)
    # One lock for all shapes: the first encode of a shape takes a few hundred ms,
    # and two tasks asking at once must not both write the same file.
    with _tiny_lock:
        if shape in _tiny_clips:
            return _tiny_clips[shape]
        if not _tiny_dir:
            folder = Path(tempfile.mkdtemp(prefix="demoprovider-tiny-"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            _tiny_dir.append(folder)
        path = _tiny_dir[0] / f"{width}x{height}-{seconds}s.mp4"
        still = Image.new("RGB", (width, height), (52, 84, 122))
        _encode(
            path,
            width=width,
            height=height,
            frames=(still for _ in range(seconds * FPS)),
            audio=lambda block: _silence(seconds * SAMPLE_RATE, block),
            crf="45",
        )
        _tiny_clips[shape] = path
        return path
