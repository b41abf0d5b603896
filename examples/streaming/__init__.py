"""The streaming example (see app.py)."""
