"""Draw the app's logo, favicon and social preview image into assets/, from one sparkle shape.

Run `.venv/bin/python scripts/make_brand_assets.py` after changing the shape or the colours, and
commit the files it writes: Reflex serves assets/ as they are.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ASSETS = Path(__file__).resolve().parents[1] / "assets"

VIOLET = "#6e56cf"  # Radix violet 9, the app's accent colour
DEEP_VIOLET = (32, 22, 72)
WHITE = "#ffffff"
LOGO_VIEWBOX = 64
LOGO_CORNER = 14

# A four-pointed sparkle (quadratic curves between its tips) and a small one beside it, in the
# logo's 64-unit square: (start, control, end) for each curve.
SPARKLE = [
    ((30, 10), (33, 29), (52, 32)),
    ((52, 32), (33, 35), (30, 54)),
    ((30, 54), (27, 35), (8, 32)),
    ((8, 32), (27, 29), (30, 10)),
]
SMALL_SPARKLE_CENTRE, SMALL_SPARKLE_SCALE = (49, 15), 0.3


def _small(point: tuple[float, float]) -> tuple[float, float]:
    cx, cy = SMALL_SPARKLE_CENTRE
    return cx + (point[0] - 30) * SMALL_SPARKLE_SCALE, cy + (point[1] - 32) * SMALL_SPARKLE_SCALE


def _shapes() -> list[list[tuple[tuple[float, float], ...]]]:
    small = [tuple(_small(point) for point in curve) for curve in SPARKLE]
    return [SPARKLE, small]


def _svg_path(curves) -> str:
    start = curves[0][0]
    parts = [f"M{start[0]:g} {start[1]:g}"]
    for _, (qx, qy), (x, y) in curves:
        parts.append(f"Q{qx:g} {qy:g} {x:g} {y:g}")
    return " ".join(parts) + "Z"


def logo_svg() -> str:
    paths = "".join(f'<path d="{_svg_path(curves)}" fill="{WHITE}"/>' for curves in _shapes())
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {LOGO_VIEWBOX} {LOGO_VIEWBOX}" '
        f'width="{LOGO_VIEWBOX}" height="{LOGO_VIEWBOX}" role="img" aria-label="Dashboard">'
        f'<rect width="{LOGO_VIEWBOX}" height="{LOGO_VIEWBOX}" rx="{LOGO_CORNER}" '
        f'fill="{VIOLET}"/>{paths}</svg>\n'
    )


def _polygon(curves, scale: float, offset: tuple[float, float]) -> list[tuple[float, float]]:
    """The curves as a polygon, each quadratic Bézier sampled finely."""
    points = []
    for (x0, y0), (qx, qy), (x1, y1) in curves:
        for step in range(24):
            t = step / 24
            x = (1 - t) ** 2 * x0 + 2 * (1 - t) * t * qx + t**2 * x1
            y = (1 - t) ** 2 * y0 + 2 * (1 - t) * t * qy + t**2 * y1
            points.append((offset[0] + x * scale, offset[1] + y * scale))
    return points


def draw_logo(size: int) -> Image.Image:
    """The logo as an RGBA image `size` pixels square, drawn large and scaled down (antialiased)."""
    big = size * 8
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    scale = big / LOGO_VIEWBOX
    draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=LOGO_CORNER * scale, fill=VIOLET)
    for curves in _shapes():
        draw.polygon(_polygon(curves, scale, (0, 0)), fill=WHITE)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def social_preview() -> Image.Image:
    """1200×630, the size Open Graph and Twitter cards show large."""
    width, height = 1200, 630
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    top, bottom = DEEP_VIOLET, (110, 86, 207)
    for y in range(height):
        t = y / (height - 1)
        draw.line(
            [(0, y), (width, y)],
            fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)),
        )
    logo = draw_logo(220)
    image.paste(logo, (110, (height - 220) // 2), logo)
    title = ImageFont.load_default(size=104)
    tagline = ImageFont.load_default(size=40)
    draw.text((380, 220), "Dashboard", font=title, fill=WHITE)
    draw.text((384, 350), "Credits, billing and your account,", font=tagline, fill=WHITE)
    draw.text((384, 402), "in one place.", font=tagline, fill=WHITE)
    return image


def main() -> None:
    ASSETS.mkdir(exist_ok=True)
    (ASSETS / "logo.svg").write_text(logo_svg())
    draw_logo(256).save(ASSETS / "favicon.ico", sizes=[(16, 16), (32, 32), (48, 48)])
    social_preview().save(ASSETS / "social-preview.png", optimize=True)
    for name in ("logo.svg", "favicon.ico", "social-preview.png"):
        print(f"wrote assets/{name} ({(ASSETS / name).stat().st_size} bytes)")


if __name__ == "__main__":
    main()
