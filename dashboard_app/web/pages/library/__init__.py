"""Library: the member's saved results as a grid of thumbnails; filter by platform, format and
tag, search title and tags, page by cursor (stable while new results arrive); rename, tag,
delete; download, which counts as an export of the month."""

from dashboard_app.web.pages.library.page import library_page
from dashboard_app.web.pages.library.state import LibraryState

__all__ = ["LibraryState", "library_page"]
