"""Hello, world: the smallest micropie application.

Every public method of an ``App`` subclass is a URL. Run it with either of::

    uvicorn examples.hello.app:app
    python examples/hello/app.py

then open http://127.0.0.1:8000/ and http://127.0.0.1:8000/greet/Alice.
"""

from __future__ import annotations

from micropie import App


class Hello(App):
    async def index(self):
        """``GET /`` (and ``/index``)."""
        return "Hello, world!"

    async def greet(self, name: str = "Guest"):
        """``/greet``, ``/greet/Alice`` or ``/greet?name=Alice``."""
        return f"Hello, {name}!"

    def sync_hello(self):
        """Plain ``def`` handlers work too; they run in the thread pool."""
        return "Hello from a thread!"


app = Hello()

if __name__ == "__main__":
    app.run()
