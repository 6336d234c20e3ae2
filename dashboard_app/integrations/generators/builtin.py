"""The built-in generator: real media made locally. A short 9:16 H.264 MP4 (frames composed
with Pillow, encoded by PyAV's libx264, `+faststart` so browsers play it while it loads) with a
WebP poster and thumbnail, or a 1080x1920 JPEG image for the image format."""

from __future__ import annotations

import io
import math
import tempfile
import textwrap
from functools import lru_cache

import av
from PIL import Image, ImageDraw, ImageFont

from dashboard_app.integrations.generators.base import (
    GeneratorError,
    MediaFile,
    ProgressCallback,
    RenderRequest,
    RenderResult,
    Style,
)

IMAGE_SIZE = (1080, 1920)
THUMBNAIL_WIDTH = 270


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _rgb(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    return int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16)


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def _wrap(text: str, font, width: int, draw: ImageDraw.ImageDraw, max_lines: int) -> list[str]:
    """Words wrapped to fit `width` pixels, at most `max_lines` lines (the last one cut)."""
    words, lines, line = text.split(), [], ""
    for word in words:
        candidate = f"{line} {word}".strip()
        if draw.textlength(candidate, font=font) <= width or not line:
            line = candidate
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = textwrap.shorten(
            lines[-1] + " …", width=max(8, len(lines[-1])), placeholder="…"
        )
    return lines


def compose_still(request: RenderRequest, size: tuple[int, int]) -> Image.Image:
    """The frame every moment of the reel starts from: gradient, platform badge, title, topic."""
    width, height = size
    style: Style = request.style
    background, accent, text = _rgb(style.background), _rgb(style.accent), _rgb(style.text)
    # Each variant leans its gradient differently, so variants of one job are told apart.
    lean = (request.position % 4) / 6
    top = Image.new("RGB", size, _mix(background, accent, lean))
    bottom = Image.new("RGB", size, _mix(background, accent, 0.55 + lean / 2))
    mask = Image.linear_gradient("L").resize(size)
    image = Image.composite(bottom, top, mask)
    draw = ImageDraw.Draw(image)
    unit = width / 1080

    badge_font = _font(max(10, round(40 * unit)))
    badge_text = style.platform_name
    pad = round(24 * unit)
    badge_width = draw.textlength(badge_text, font=badge_font) + 2 * pad
    badge_box = (pad * 2, pad * 3, pad * 2 + badge_width, pad * 3 + round(64 * unit))
    draw.rounded_rectangle(badge_box, radius=round(32 * unit), fill=_rgb(style.platform_accent))
    draw.text(
        (badge_box[0] + pad, (badge_box[1] + badge_box[3]) / 2),
        badge_text,
        font=badge_font,
        fill=(17, 17, 17),
        anchor="lm",
    )

    margin = round(90 * unit)
    title_font = _font(max(12, round(96 * unit)))
    y = height * 0.30
    for line in _wrap(request.title or request.topic, title_font, width - 2 * margin, draw, 4):
        draw.text((margin, y), line, font=title_font, fill=text)
        y += title_font.size * 1.15 if hasattr(title_font, "size") else 24
    y += round(40 * unit)
    draw.rectangle(
        (margin, y, margin + round(160 * unit), y + max(2, round(10 * unit))), fill=accent
    )
    y += round(60 * unit)
    topic_font = _font(max(10, round(48 * unit)))
    for line in _wrap(request.topic, topic_font, width - 2 * margin, draw, 6):
        draw.text((margin, y), line, font=topic_font, fill=text)
        y += topic_font.size * 1.3 if hasattr(topic_font, "size") else 16

    footer_font = _font(max(8, round(36 * unit)))
    draw.text(
        (margin, height - round(140 * unit)),
        f"{style.preset_name} · variant {request.position + 1}",
        font=footer_font,
        fill=text,
    )
    return image


def _frame(still: Image.Image, request: RenderRequest, t: float) -> Image.Image:
    """The still with what moves at time `t` (0..1): a glowing dot and a sweeping bar."""
    frame = still.copy()
    draw = ImageDraw.Draw(frame)
    width, height = frame.size
    accent = _rgb(request.style.accent)
    radius = width * 0.06
    angle = 2 * math.pi * t + request.position
    cx = width * 0.75 + math.cos(angle) * width * 0.12
    cy = height * 0.16 + math.sin(angle) * width * 0.12
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=accent)
    bar_y = height - height * 0.04
    draw.rectangle((0, bar_y, width * t, height), fill=accent)
    return frame


def _webp(image: Image.Image, width: int | None = None) -> MediaFile:
    if width is not None and image.width != width:
        image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=80, method=4)
    return MediaFile(data=buffer.getvalue(), content_type="image/webp", extension="webp")


class BuiltinGenerator:
    """Renders locally. `height` sets the reel's size (width is 9:16 of it); `seconds` and
    `fps` its length: the defaults make a real 1080x1920 reel, tests use a tiny one."""

    name = "builtin"

    def __init__(self, *, height: int = 1920, seconds: float = 6.0, fps: int = 24) -> None:
        if height < 64 or height % 16:
            raise ValueError("the reel height must be a multiple of 16, at least 64")
        self.size = (height * 9 // 16 // 2 * 2, height)
        self.seconds = seconds
        self.fps = fps

    def render(self, request: RenderRequest, report: ProgressCallback) -> RenderResult:
        report(0.0)
        if request.format == "image":
            return self._image(request, report)
        return self._video(request, report)

    def _image(self, request: RenderRequest, report: ProgressCallback) -> RenderResult:
        image = compose_still(request, IMAGE_SIZE)
        report(0.6)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90, optimize=True)
        result = RenderResult(
            media=MediaFile(data=buffer.getvalue(), content_type="image/jpeg", extension="jpg"),
            thumbnail=_webp(image, THUMBNAIL_WIDTH),
            poster=None,
            width=IMAGE_SIZE[0],
            height=IMAGE_SIZE[1],
        )
        report(1.0)
        return result

    def _video(self, request: RenderRequest, report: ProgressCallback) -> RenderResult:
        still = compose_still(request, self.size)
        frames = max(1, round(self.seconds * self.fps))
        # +faststart rewrites the file to put the index first, so it needs a real file.
        with tempfile.NamedTemporaryFile(suffix=".mp4") as file:
            self._encode(still, request, report, frames, file.name)
            data = file.read()
        poster = _frame(still, request, (frames // 2) / frames)
        result = RenderResult(
            media=MediaFile(data=data, content_type="video/mp4", extension="mp4"),
            thumbnail=_webp(poster, THUMBNAIL_WIDTH),
            poster=_webp(poster),
            width=self.size[0],
            height=self.size[1],
            duration_ms=round(frames / self.fps * 1000),
        )
        report(1.0)
        return result

    def _encode(
        self,
        still: Image.Image,
        request: RenderRequest,
        report: ProgressCallback,
        frames: int,
        path: str,
    ) -> None:
        try:
            with av.open(
                path, mode="w", format="mp4", options={"movflags": "+faststart"}
            ) as output:
                stream = output.add_stream("libx264", rate=self.fps)
                stream.width, stream.height = self.size
                stream.pix_fmt = "yuv420p"
                stream.options = {"preset": "veryfast", "crf": "26"}
                step = max(1, frames // 20)
                for index in range(frames):
                    frame = av.VideoFrame.from_image(_frame(still, request, index / frames))
                    for packet in stream.encode(frame):
                        output.mux(packet)
                    if index % step == 0:
                        report(index / frames * 0.95)
                for packet in stream.encode():
                    output.mux(packet)
        except av.FFmpegError as error:
            raise GeneratorError(f"encoding the reel failed: {error}") from error
