"""The hook order middleware example (see app.py)."""
