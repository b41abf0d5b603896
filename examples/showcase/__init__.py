"""The showcase example (see app.py)."""
