"""Middleware patterns (SPEC §7): one runnable ``<pattern>/app.py`` each."""
