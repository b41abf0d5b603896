"""The mount_in_starlette example (see app.py)."""
