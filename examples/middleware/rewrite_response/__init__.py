"""The rewrite response middleware example (see app.py)."""
