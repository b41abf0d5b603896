"""The uploads example (see app.py)."""
