"""The chat example (see app.py)."""
