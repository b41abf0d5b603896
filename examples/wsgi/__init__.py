"""The wsgi example (see app.py)."""
