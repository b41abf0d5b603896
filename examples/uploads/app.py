"""File uploads: an HTML form, a handler that saves the file and shows its size and hash.

Run with ``uvicorn examples.uploads.app:app`` and open http://127.0.0.1:8000/.
Files go to ``$UPLOAD_DIR`` (default ``./uploads``).

The upload streams: the handler starts while the file is still arriving and memory
stays bounded whatever its size. Browsers send fields in page order, so the form puts
the note before the file: fields after a large file arrive too late to bind to
parameters (they are still in ``self.request.form(...)`` after the file is read).
``save()`` keeps the file inside the directory whatever name the client sent, and
never replaces a file already there; this route accepts up to 1 GiB while the rest of
the app keeps the default 16 MiB body limit.
"""

from __future__ import annotations

import hashlib
import os
from html import escape
from pathlib import Path

import anyio

from micropie import App, UploadedFile, limits, methods

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Upload</title></head><body>
<h1>Upload a file</h1>
<form method="post" action="{action}upload" enctype="multipart/form-data">
  <p><label>Note <input name="note"></label></p>
  <p><input type="file" name="file" required></p>
  <button>Upload</button>
</form>
<h2>Uploaded</h2>
<ul>{files}</ul>
</body></html>"""

RESULT = """<!doctype html>
<html><head><meta charset="utf-8"><title>Uploaded</title></head><body>
<p>Saved <b>{name}</b>: {size} bytes, SHA-256 <code>{sha256}</code>.</p>
<p>Note: {note}</p>
<p><a href="{action}">Upload another</a></p>
</body></html>"""


class Uploads(App):
    def __init__(self, upload_dir: str | os.PathLike[str] = "uploads") -> None:
        super().__init__()
        self._upload_dir = Path(upload_dir)

    def index(self):
        """A plain ``def``: it runs in the thread pool, so listing the directory is fine."""
        listing = "".join(
            f"<li>{escape(path.name)} ({path.stat().st_size} bytes)</li>"
            for path in sorted(self._upload_dir.glob("*"))
            if path.is_file()
        )
        return PAGE.format(action=self._action(), files=listing or "<li>none yet</li>")

    @methods("POST")
    @limits(max_body_size=2**30)
    async def upload(self, file: UploadedFile, note: str = ""):
        await anyio.Path(self._upload_dir).mkdir(parents=True, exist_ok=True)
        # overwrite=False: a second "photo.jpg" is kept as "photo-1.jpg", never replacing
        # someone else's file. The name is the client's reduced to a safe base name (no
        # directories, no leading dot: ".htaccess" is saved as "htaccess").
        path = await file.save(self._upload_dir, overwrite=False)
        # Fields sent after a large file arrive once it has been read: too late to
        # bind, but in the form data now. (This form puts the note first anyway.)
        note = note or self.request.form("note", "")
        sha256 = await anyio.to_thread.run_sync(_sha256, path)
        return RESULT.format(
            name=escape(path.name),
            size=file.size,
            sha256=sha256,
            note=escape(note) or "(none)",
            action=self._action(),
        )

    def _action(self) -> str:
        return str(self.request.scope.get("root_path", "")) + "/"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


app = Uploads(os.environ.get("UPLOAD_DIR", "uploads"))

if __name__ == "__main__":
    app.run()
