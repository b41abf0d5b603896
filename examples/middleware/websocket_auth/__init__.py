"""The websocket auth middleware example (see app.py)."""
