"""The templates example (see app.py)."""
