"""The REST API, version 1 (see app.py)."""
