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

#: The session keeps this visitor's latest comments, each this long at most.
MAX_COMMENTS = 10
MAX_COMMENT_CHARS = 500


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
        # Whatever a client sends into the session stays in the store: bound it.
        if len(text) > MAX_COMMENT_CHARS:
            return 400, f"A comment has at most {MAX_COMMENT_CHARS} characters"
        comments = self.session.get("comments", [])[-(MAX_COMMENTS - 1) :]
        self.session["comments"] = [*comments, [post_id, text]]
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
