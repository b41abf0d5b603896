"""An app whose ``/hold`` keeps a request (and its parsed body) open until ``/let_go``.

A client that picks a long-running handler (a stream, an event source) decides how
long its parsed body stays in memory; ``/hold`` stands for such a handler. ``/held``
reports the bytes of large bodies the process keeps. The budget is lowered to 4 MiB
here so that the test's bodies stay small.
"""

from __future__ import annotations

import asyncio

import micropie.body
from micropie import App

micropie.body.LARGE_BODY_BUDGET = 4 * 1024 * 1024

_gate: dict[str, asyncio.Event] = {}


def _event() -> asyncio.Event:
    return _gate.setdefault("open", asyncio.Event())


class Held(App):
    async def hold(self):
        await _event().wait()
        return "released"

    async def let_go(self):
        _event().set()
        _gate.pop("open")
        return "ok"

    async def echo(self, size: int = 0):
        return {"keys": len(self.request.get_json), "size": size}

    async def held(self):
        return {"bytes": micropie.body.large_bodies.held}


app = Held()
