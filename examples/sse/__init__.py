"""The server-sent events example (see app.py)."""
