"""The lifespan example (see app.py)."""
