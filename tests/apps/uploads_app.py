"""Uploads served by uvicorn for the streaming, disconnect, limit and slow-client tests.

``MICROPIE_TEST_MAX_BODY`` and ``MICROPIE_TEST_BODY_TIMEOUT`` set the app's limits;
``/hash`` raises its own limit to 1 GiB. ``/state`` reports what handlers saw.
``/save`` saves into ``MICROPIE_TEST_UPLOAD_DIR``; ``/queue`` reads the MicroPie way.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any

from micropie import App, MultipartFileError, UploadedFile, limits

STATE: dict[str, Any] = {"started": 0, "finished": 0, "errors": [], "parsed_while_paused": 0}


class UploadsApp(App):
    async def index(self):
        return "ok"

    async def state(self):
        return STATE

    @limits(max_body_size=2**30)
    async def hash(self, file: UploadedFile, after: str = "unbound"):
        return await self._hash(file, after)

    @limits(max_body_size=2**30)
    async def slow(self, file: UploadedFile):
        """Reads one chunk, pauses, and records how much the parser took meanwhile."""
        first = await file.read(1)
        await asyncio.sleep(1.0)
        STATE["parsed_while_paused"] = file.size
        digest = hashlib.sha256(first)
        async for chunk in file:
            digest.update(chunk)
        return {"sha256": digest.hexdigest(), "size": file.size}

    @limits(max_body_size=4 * 1024 * 1024)
    async def medium(self, file: UploadedFile):
        return await self._hash(file)

    async def small(self, file: UploadedFile):
        return await self._hash(file)

    @limits(max_body_size=2**30, body_timeout=30.0)  # the tests pace these uploads
    async def save(self, file: UploadedFile, overwrite: bool = True):
        STATE["started"] += 1
        directory = Path(os.environ["MICROPIE_TEST_UPLOAD_DIR"])
        try:
            path = await file.save(directory, overwrite=overwrite)
        except MultipartFileError as exc:
            STATE["errors"].append(getattr(exc, "detail", str(exc)))
            raise
        STATE["finished"] += 1
        return {"name": path.name, "size": file.size}

    @limits(
        max_body_size=2**30, max_form_parts=None, max_buffer_size=4 * 1024 * 1024, body_timeout=30.0
    )
    async def many(self, count: int):
        """Files ``f0`` .. ``f{count-1}``: pauses after the first byte, then hashes them all.

        Records how many bytes the parser had taken while the handler paused.
        """
        files = self.request.files
        first = files["f0"]
        digest = hashlib.sha256(await first.read(1))
        await asyncio.sleep(1.0)
        STATE["parsed_while_paused"] = sum(file.size for file in files.values())
        for index in range(count):
            name = f"f{index}"
            while name not in files:  # parts arrive as earlier ones are read
                await asyncio.sleep(0.01)
            async for chunk in files[name]:
                digest.update(chunk)
        return {"sha256": digest.hexdigest(), "files": len(files)}

    @limits(max_body_size=2**30)
    async def queue(self):
        """Reads ``file`` through MicroPie's queue API (``file["content"].get()``)."""
        STATE["started"] += 1
        queue = self.request.files["file"]["content"]
        size = 0
        try:
            while (chunk := await queue.get()) is not None:
                size += len(chunk)
        except MultipartFileError as exc:
            STATE["errors"].append(getattr(exc, "detail", str(exc)))
            raise
        STATE["finished"] += 1
        return {"size": size}

    async def _hash(self, file: UploadedFile, after: str = "unbound") -> dict[str, Any]:
        STATE["started"] += 1
        digest = hashlib.sha256()
        try:
            async for chunk in file:
                digest.update(chunk)
        except MultipartFileError as exc:
            STATE["errors"].append(getattr(exc, "detail", str(exc)))
            raise
        STATE["finished"] += 1
        late = self.request.form("after")
        return {"sha256": digest.hexdigest(), "size": file.size, "after": after, "late": late}


app = UploadsApp(
    max_body_size=int(os.environ.get("MICROPIE_TEST_MAX_BODY", 1024 * 1024)),
    body_timeout=float(os.environ.get("MICROPIE_TEST_BODY_TIMEOUT", 1.0)),
)
