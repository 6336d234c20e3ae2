"""Create: the form for a new reel (or image), its cost before submitting, "Save as draft", and
the member's open drafts. Submitting lands on the job's review page."""

from dashboard_app.web.pages.create.page import create_page
from dashboard_app.web.pages.create.state import CreateState

__all__ = ["CreateState", "create_page"]
