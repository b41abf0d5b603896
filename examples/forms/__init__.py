"""The forms example (see app.py)."""
