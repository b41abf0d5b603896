"""The monitoring example (see app.py)."""
