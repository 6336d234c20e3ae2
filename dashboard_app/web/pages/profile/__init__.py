"""Profile: the member's own details and avatar (details.py), how they sign in (security.py:
email, password, sessions), their API keys (api_keys.py), their data and deletion (page.py).
One page state, ProfileState (state.py), made of each part's handlers."""

from dashboard_app.web.pages.profile.page import profile_page
from dashboard_app.web.pages.profile.state import ProfileState

__all__ = ["ProfileState", "profile_page"]
