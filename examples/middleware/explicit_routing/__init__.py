"""The explicit routing middleware example (see app.py)."""
