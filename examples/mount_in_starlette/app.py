"""A micropie ``App`` mounted inside a Starlette application.

Run with ``uvicorn examples.mount_in_starlette.app:app`` or
``python examples/mount_in_starlette/app.py``, then open http://127.0.0.1:8000/ and
http://127.0.0.1:8000/shop/.

``app`` here is a Starlette app; ``Mount("/shop", app=Shop())`` hands it every path
under ``/shop``. The shop routes on the path *below* the mount point (``/shop/item/2``
calls ``item(self, item_id)``), and ``root_path`` in the scope says where it is mounted,
so it can build links and redirects that work at any prefix. The same works for FastAPI:
``fastapi_app.mount("/shop", Shop())``.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route

from micropie import App, methods

PRODUCTS = {1: "Apple pie", 2: "Cherry pie", 3: "Pumpkin pie"}
MAX_CART = 20


class Shop(App):
    async def index(self):
        root = self._root()
        items = "".join(
            f'<li><a href="{root}/item/{pid}">{name}</a></li>' for pid, name in PRODUCTS.items()
        )
        return f"<h1>Shop</h1><ul>{items}</ul><p><a href='{root}/cart'>Cart</a></p>"

    async def item(self, item_id: int):
        if item_id not in PRODUCTS:
            return 404, "No such pie"
        action = f"{self._root()}/buy/{item_id}"
        button = f"<form method='post' action='{action}'><button>Buy</button></form>"
        return f"<h1>{PRODUCTS[item_id]}</h1>{button}"

    @methods("POST")
    async def buy(self, item_id: int):
        # The session keeps only what was checked: an unknown id stored there would
        # break the cart page for this visitor, and an unbounded cart fills the store.
        if item_id not in PRODUCTS:
            return 404, "No such pie"
        cart = self.request.session.setdefault("cart", [])
        if len(cart) >= MAX_CART:
            return 409, f"Your cart is full ({MAX_CART} pies)"
        cart.append(item_id)
        return self._redirect(self._root() + "/cart")

    async def cart(self):
        names = [PRODUCTS[i] for i in self.request.session.get("cart", []) if i in PRODUCTS]
        return {"cart": names, "mounted_at": self._root()}

    def _root(self) -> str:
        return str(self.request.scope.get("root_path", ""))


async def homepage(request):
    shop = request.scope.get("root_path", "") + "/shop/"  # this app may be mounted too
    return HTMLResponse(
        f"<h1>A Starlette app</h1><p>The <a href='{shop}'>shop</a> is micropie.</p>"
    )


app = Starlette(routes=[Route("/", homepage), Mount("/shop", app=Shop())])

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(
        app, host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", 8000))
    )
