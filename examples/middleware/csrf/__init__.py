"""The csrf middleware example (see app.py)."""
