"""The starlette middleware middleware example (see app.py)."""
