"""Links to a member's generated files for the pages: signed and expiring (see
web/api/files.file_link), reused while they have most of their life left so that a page
reloading after each pushed change does not reload a playing video."""

from __future__ import annotations

import time
from functools import lru_cache

from dashboard_app.domain.generation import downloads
from dashboard_app.engine.runtime import storage_for
from dashboard_app.integrations.storage import Storage
from dashboard_app.models import Asset
from dashboard_app.settings import get_settings
from dashboard_app.web.api.files import file_link


@lru_cache(maxsize=1)
def _storage() -> Storage:
    return storage_for(get_settings())


class MediaLinks:
    """Links made for one viewer, kept in a page state's backend var between events:
    `{"<asset id>:<part>": [url, issued at]}`."""

    def __init__(self, viewer_id: int, kept: dict[str, list] | None = None) -> None:
        self.viewer_id = viewer_id
        self.reuse_seconds = get_settings().file_link_seconds / 2
        oldest = time.time() - self.reuse_seconds
        self.kept = {name: found for name, found in (kept or {}).items() if found[1] > oldest}

    def link(self, asset: Asset | None, part: str) -> str:
        """A link to the part (media, poster, thumbnail) of the viewer's asset, or ""."""
        if asset is None or asset.id is None:
            return ""
        name, now = f"{asset.id}:{part}", time.time()
        found = self.kept.get(name)
        if found and now - found[1] < self.reuse_seconds:
            return found[0]
        grant = downloads.grant_for(asset, part)
        if grant is None:
            return ""
        url = file_link(storage=_storage(), viewer_id=self.viewer_id, grant=grant)
        self.kept[name] = [url, now]
        return url


def download_link(viewer_id: int, grant: downloads.FileGrant) -> str:
    """A one-off link that downloads the file (an attachment) rather than showing it."""
    return file_link(storage=_storage(), viewer_id=viewer_id, grant=grant, download=True)


def api_file_link(viewer_id: int, grant: downloads.FileGrant, *, download: bool = False) -> str:
    """A link for an API caller: needs no session cookie (see web/api/files.py)."""
    return file_link(
        storage=_storage(), viewer_id=viewer_id, grant=grant, download=download, for_api=True
    )
