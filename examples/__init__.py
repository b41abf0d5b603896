"""Runnable micropie examples; each ``examples/<name>/app.py`` defines ``app``."""
