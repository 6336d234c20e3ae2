"""The app's logo, favicon and link-preview image (files in assets/, drawn by
scripts/make_brand_assets.py) and the tags that point at them."""

from __future__ import annotations

import reflex as rx

from dashboard_app.web import routes


def social_preview_url(public_base_url: str) -> str:
    """Link previews need an absolute address for the image."""
    return f"{public_base_url.rstrip('/')}{routes.SOCIAL_PREVIEW}"


def head_components(public_base_url: str) -> list[rx.Component]:
    """Tags for every page's head. The page's own `og:image` comes from `add_page(image=...)`:
    Reflex writes one for every page (the favicon by default)."""
    return [
        rx.el.link(rel="icon", href=routes.FAVICON, sizes="32x32"),
        rx.el.link(rel="icon", href=routes.LOGO, type="image/svg+xml"),
        rx.el.meta(name="twitter:card", content="summary_large_image"),
        rx.el.meta(name="twitter:image", content=social_preview_url(public_base_url)),
    ]


def logo(size: str = "28px") -> rx.Component:
    """The logo beside the app's name: decorative, so screen readers skip it."""
    return rx.image(src=routes.LOGO, alt="", width=size, height=size, flex_shrink="0")
