"""Handlers that show what path segments they receive, for encoded-separator tests."""

from __future__ import annotations

from micropie import App


class Segments(App):
    async def one(self, name):
        return {"name": name}

    async def many(self, *parts):
        return {"parts": list(parts)}

    async def index(self, *parts):
        return {"index": list(parts)}


app = Segments()
