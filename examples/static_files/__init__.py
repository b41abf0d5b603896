"""The static_files example (see app.py)."""
