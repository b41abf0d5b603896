"""Sub-applications: a middleware hands ``/blog`` and ``/api`` to other ASGI apps.

Setting ``request._subapp`` and ``request._subapp_path`` in ``before_request`` passes
the request on: the sub-app sees the path below its mount point, a ``root_path``
extended by it, the body (already read by the parent) and the parent's session. Here
``/blog`` is another micropie ``App`` and ``/api`` a plain Starlette app. Run it with::

    uvicorn examples.middleware.subapps.app:app

then visit http://127.0.0.1:8000/login/ann, /blog, /blog/post/3 and /api/me.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse
from starlette.routing import Route

from micropie import App, HttpMiddleware


class Mounts(HttpMiddleware):
    """Hand ``/<prefix>/...`` to the ASGI app registered for that prefix."""

    def __init__(self, apps: dict[str, object]) -> None:
        self.apps = apps

    async def before_request(self, request):
        path = request.scope["path"][len(request.scope.get("root_path", "")) :]
        for prefix, sub_app in self.apps.items():
            if path == prefix or path.startswith(prefix + "/"):
                request._subapp = sub_app
                request._subapp_path = path[len(prefix) :] or "/"
                return None
        return None


class Blog(App):
    async def index(self):
        user = self.session.get("user", "stranger")
        return {"blog": "home", "user": user, "root_path": self.request.scope["root_path"]}

    async def post(self, post_id: int):
        return {"post": post_id, "url": str(self.request.url)}

    async def comment(self, post_id: int, text: str):
        self.session.setdefault("comments", []).append([post_id, text])
        return {"post": post_id, "comments": self.session["comments"]}


async def me(request: StarletteRequest) -> JSONResponse:
    return JSONResponse({"user": request.session.get("user"), "url": str(request.url_for("me"))})


async def echo(request: StarletteRequest) -> JSONResponse:
    return JSONResponse({"path": request.url.path, "body": (await request.body()).decode()})


api = Starlette(
    routes=[Route("/me", me, name="me"), Route("/echo", echo, methods=["POST"], name="echo")]
)


class Site(App):
    async def index(self):
        return "Mounted: /blog (micropie) and /api (Starlette)"

    async def login(self, user: str):
        self.session["user"] = user
        return f"logged in as {user}"


app = Site()
app.middlewares.append(Mounts({"/blog": Blog(), "/api": api}))

if __name__ == "__main__":
    app.run()
