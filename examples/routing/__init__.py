"""The routing example (see app.py)."""
