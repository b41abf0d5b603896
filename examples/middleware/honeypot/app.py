"""Reading the form in ``before_request``: a honeypot field against form spam bots.

The body is parsed before the hooks run, so a hook can read ``request.form(...)``
(urlencoded, or JSON keys) and refuse the request before any handler runs. Bots fill
the hidden ``website`` field and post faster than people type. Run it with::

    uvicorn examples.middleware.honeypot.app:app

then open http://127.0.0.1:8000/.
"""

from __future__ import annotations

import time

from micropie import App, HttpMiddleware

PAGE = """<!doctype html>
<form method="post" action="{action}">
  <input name="message">
  <input name="website" style="display:none" tabindex="-1" autocomplete="off">
  <input type="hidden" name="shown_at" value="{shown_at}">
  <button>Send</button>
</form>
"""


class Honeypot(HttpMiddleware):
    """Refuse POSTs that fill ``field`` or arrive less than ``min_seconds`` after the page."""

    def __init__(self, field: str = "website", min_seconds: float = 2.0) -> None:
        self.field = field
        self.min_seconds = min_seconds

    async def before_request(self, request):
        if request.method != "POST":
            return None
        if request.form(self.field):
            return {"status_code": 400, "body": "400 Bad Request: spam detected"}
        try:
            shown_at = float(request.form("shown_at", ""))
        except ValueError:
            return {"status_code": 400, "body": "400 Bad Request: form expired, reload it"}
        if time.time() - shown_at < self.min_seconds:
            return {"status_code": 400, "body": "400 Bad Request: too fast, try again"}
        return None


class Contact(App):
    async def index(self):
        action = self.request.root_path + "/contact"  # below wherever the app is mounted
        return PAGE.format(action=action, shown_at=time.time())

    async def contact(self, message: str):
        return f"Thanks, we got: {message}"


app = Contact()
app.middlewares.append(Honeypot())

if __name__ == "__main__":
    app.run()
