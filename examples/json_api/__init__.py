"""The json_api example (see app.py)."""
