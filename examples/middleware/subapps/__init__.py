"""The subapps middleware example (see app.py)."""
