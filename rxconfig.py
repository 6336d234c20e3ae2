"""Reflex configuration, derived from the application's settings."""

from urllib.parse import urlsplit

import reflex as rx
from reflex.plugins.sitemap import SitemapPlugin

from dashboard_app.settings import SettingsError, get_settings

_settings = get_settings()
try:
    # Fails start-up in production when SECRET_KEY is missing or a placeholder, or no SMTP_HOST.
    _settings.check_start_up()
except SettingsError as error:
    raise SystemExit(f"Configuration error: {error}") from None
_public = urlsplit(_settings.public_base_url)

config = rx.Config(
    app_name="dashboard_app",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    redis_url=_settings.redis_url,
    cors_allowed_origins=[f"{_public.scheme}://{_public.netloc}"],
    # The frontend reaches the backend on the public origin (one port in production mode).
    api_url=_settings.public_base_url,
    disable_plugins=[SitemapPlugin],
    plugins=[
        rx.plugins.RadixThemesPlugin(
            theme=rx.theme(appearance="inherit", accent_color="violet", radius="medium")
        )
    ],
)
