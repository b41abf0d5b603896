"""The pastebin example (see app.py)."""
