"""The honeypot middleware example (see app.py)."""
