"""The rate limit middleware example (see app.py)."""
