"""Importable apps for tests that run a real server process."""
