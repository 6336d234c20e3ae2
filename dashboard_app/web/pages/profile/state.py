"""ProfileState: the profile page's one state, made of its parts' handlers (details, security,
API keys), with the page's loading."""

from __future__ import annotations

import asyncio
import time

import reflex as rx

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts, profiles
from dashboard_app.web import routes
from dashboard_app.web.api.avatars import AVATAR_ERROR
from dashboard_app.web.auth_cookie import session_policy
from dashboard_app.web.pages.profile.api_keys import ApiKeysPart
from dashboard_app.web.pages.profile.details import PLATFORM_LABELS, PROFILE_FIELDS, DetailsPart
from dashboard_app.web.pages.profile.security import SecurityPart, describe_device
from dashboard_app.web.signing import unsign
from dashboard_app.web.state.auth import MESSAGE_MAX_AGE_SECONDS, AuthState, LivePage, Viewer


def _load(user_id: int, current_session_id: int) -> dict:
    with session_scope() as session:
        user = accounts.get_user(session=session, user_id=user_id)
        profile = profiles.get_profile(session=session, user_id=user_id)
        sessions = accounts.live_sessions(session=session, user_id=user_id, policy=session_policy())
        return {
            "fields": {name: getattr(profile, name) for name in PROFILE_FIELDS},
            "theme": profile.theme,
            "platform": profile.default_platform,
            "notifications": profile.email_notifications,
            "updated": f"{profile.updated_at:%d %B %Y, %H:%M} UTC",
            "since": f"{user.created_at:%d %B %Y}",
            "has_avatar": bool(profile.avatar_path),
            "has_password": user.password_hash is not None,
            "sessions": [
                {
                    "device": describe_device(row.user_agent),
                    "last_seen": f"{row.last_seen_at:%d %b %Y, %H:%M} UTC",
                    "address": row.ip_address,
                    "current": "yes" if row.id == current_session_id else "",
                }
                for row in sessions
            ],
        }


class ProfileState(ApiKeysPart, SecurityPart, DetailsPart, LivePage, AuthState):
    async def _refresh_page(self, viewer: Viewer) -> None:
        await self._reload(viewer, remount=True)

    async def _poll_page(self, nudge: int = 0):
        """A push (credits, a job, another tab) reloads what the page shows, but the form is
        mounted again only when the stored profile itself changed: a member typing into it keeps
        what they typed when an unrelated change arrives."""
        if not self._nudge_is_new(nudge):
            return None
        viewer = await self._viewer()
        if viewer is None:
            return self._to_sign_in()
        await self._reload(viewer, remount=False)
        return None

    async def _reload(self, viewer: Viewer, *, remount: bool) -> None:
        data = await asyncio.to_thread(_load, viewer.user_id, viewer.session_id)
        stored = repr((data["fields"], data["theme"], data["platform"], data["notifications"]))
        stored_changed, self._form_built_from = stored != self._form_built_from, stored
        self.fields = data["fields"]
        self.theme = data["theme"]
        self.platform_label = PLATFORM_LABELS.get(data["platform"], PLATFORM_LABELS[""])
        self.email_notifications = data["notifications"]
        self.updated_at = data["updated"]
        self.member_since = data["since"]
        self.has_password = data["has_password"]
        self.sessions = data["sessions"]
        self.avatar_url = f"{routes.API_AVATAR}?v={int(time.time())}" if data["has_avatar"] else ""
        await self._reload_api_keys(viewer.user_id)
        if remount or stored_changed:
            self.form_key += 1  # re-mount the form so its inputs show the stored values

    @rx.event
    async def load(self):
        self.field_errors, self.saved = {}, ""
        self._forget_new_api_key()  # a new key's secret is shown once, not on the next visit
        error = unsign(
            AVATAR_ERROR,
            self.router.url.query_parameters.get("avatar_error"),
            MESSAGE_MAX_AGE_SECONDS,
        )
        self.avatar_error = error if isinstance(error, str) else ""
        return await self._load_page()
