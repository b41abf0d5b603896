"""Explicit routing: a middleware maps URL patterns to (private) handlers.

``/users/{user_id:int}``-style patterns are compiled with Starlette's
``compile_path``; a match sets ``request._route_handler`` and ``request.path_params``
and micropie calls that handler, binding the captured values to its parameters.
``_private`` handlers have no URL of their own, so this is how they get one; public
handlers keep their automatic URLs. Run it with::

    uvicorn examples.middleware.explicit_routing.app:app

then try http://127.0.0.1:8000/users/1, /users/1/posts/hello and ``POST /users``.
"""

from __future__ import annotations

from starlette.routing import compile_path

from micropie import App, HttpMiddleware


class PatternRouter(HttpMiddleware):
    """Send requests matching a pattern to the named handler."""

    def __init__(self) -> None:
        self.routes: list[tuple[object, str, frozenset[str]]] = []

    def add(self, pattern: str, handler: str, methods: tuple[str, ...] = ("GET",)) -> None:
        regex, _format, _convertors = compile_path(pattern)
        self.routes.append((regex, handler, frozenset(methods)))

    async def before_request(self, request):
        path = request.scope["path"][len(request.scope.get("root_path", "")) :] or "/"
        allowed: set[str] = set()
        for regex, handler, methods in self.routes:
            match = regex.match(path)
            if match is None:
                continue
            if request.method in methods:
                request._route_handler = handler
                request.path_params = list(match.groupdict().values())
                return None
            allowed |= methods
        if allowed:
            headers = {"Allow": ", ".join(sorted(allowed))}
            return {"status_code": 405, "body": "405 Method Not Allowed", "headers": headers}
        return None


USERS = {1: "ann", 2: "bo"}


class Users(App):
    async def index(self):
        return "Try /users/1 or /users/1/posts/hello"

    async def _list_users(self):
        return {"users": USERS}

    async def _get_user(self, user_id: int):
        if user_id not in USERS:
            return 404, f"no user {user_id}"
        return {"id": user_id, "name": USERS[user_id]}

    async def _create_user(self, name: str):
        user_id = max(USERS) + 1
        USERS[user_id] = name
        return 201, {"id": user_id, "name": name}

    async def _get_post(self, user_id: int, slug: str):
        return {"user": user_id, "post": slug}


router = PatternRouter()
router.add("/users", "_list_users")
router.add("/users", "_create_user", methods=("POST",))
router.add("/users/{user_id:int}", "_get_user")
router.add("/users/{user_id:int}/posts/{slug}", "_get_post")

app = Users()
app.middlewares.append(router)

if __name__ == "__main__":
    app.run()
