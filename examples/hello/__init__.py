"""The hello example (see app.py)."""
