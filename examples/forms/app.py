"""HTML forms: fields bind to parameters, repeated fields to ``list[str]``.

Run with ``uvicorn examples.forms.app:app`` or ``python examples/forms/app.py`` and
open http://127.0.0.1:8000/.

The same handler shows the form (GET) and handles it (POST). Invalid input shows the
form again with messages and status 400; valid input redirects (Post/Redirect/Get).
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

from micropie import App, methods

TOPICS = ("routing", "templates", "sessions", "websockets")

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Sign up</title></head><body>
<h1>Sign up for the micropie newsletter</h1>
{errors}
<form method="post" action="{action}">
  <p><label>Name <input name="name" value="{name}"></label></p>
  <p><label>Age <input name="age" type="number" value="{age}"></label></p>
  <fieldset><legend>Topics</legend>{topics}</fieldset>
  <p><label><input type="checkbox" name="subscribe" value="yes"{checked}> Subscribe</label></p>
  <button>Send</button>
</form></body></html>"""


class Forms(App):
    @methods("GET", "POST")
    async def index(
        self,
        name: str = "",
        age: str = "",
        topic: list[str] | None = None,
        subscribe: bool = False,
    ):
        chosen = topic or []
        if self.request.method == "GET":
            return _page(self._action(), name, age, chosen, subscribe, [])
        errors = _validate(name, age, chosen)
        if errors:
            return 400, _page(self._action(), name, age, chosen, subscribe, errors)
        query = "?" + urlencode({"name": name, "subscribed": "yes" if subscribe else "no"})
        return self._redirect(self._action() + "thanks" + query)

    async def thanks(self, name: str, subscribed: str = "no"):
        """Query parameters bind just like form fields."""
        extra = " You are subscribed." if subscribed == "yes" else ""
        return f"<p>Thank you, {escape(name)}!{extra}</p><p><a href='{self._action()}'>Back</a></p>"

    def _action(self) -> str:
        """This app's root URL, correct also when it is mounted under a prefix."""
        return str(self.request.scope.get("root_path", "")) + "/"


def _validate(name: str, age: str, topics: list[str]) -> list[str]:
    errors = []
    if not name.strip():
        errors.append("Please give your name.")
    # isdigit() alone takes "²" (int() refuses it) and 5,000 digits (over int()'s limit)
    if not (age.isascii() and age.isdigit() and len(age) <= 3 and 0 < int(age) < 150):
        errors.append("Age must be a whole number between 1 and 149.")
    if any(topic not in TOPICS for topic in topics):
        errors.append("Unknown topic.")
    return errors


def _page(action: str, name: str, age: str, topics: list[str], subscribe: bool, errors):
    boxes = "".join(
        f'<label><input type="checkbox" name="topic" value="{t}"'
        f"{' checked' if t in topics else ''}> {t}</label> "
        for t in TOPICS
    )
    error_html = "".join(f'<p class="error">{escape(e)}</p>' for e in errors)
    return PAGE.format(
        errors=error_html,
        action=escape(action),
        name=escape(name),
        age=escape(age),
        topics=boxes,
        checked=" checked" if subscribe else "",
    )


app = Forms()

if __name__ == "__main__":
    app.run()
