"""The ``Host`` header reaches absolute URLs; ``TrustedHostMiddleware`` bounds it
(docs/security.md, "The Host header is the client's")."""

from __future__ import annotations

import pytest
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

from micropie import App
from tests.conftest import ClientFactory


class Site(App):
    async def index(self):
        return "home"

    async def forgot(self):
        return str(self.request.url_for("index"))

    async def paths(self):
        return {"path": self.request.url_for("index").path, "app": self.url_path_for("index")}

    async def back(self):
        return self._redirect("/index")


def test_absolute_urls_take_the_host_the_client_sent(client_factory: ClientFactory) -> None:
    client = client_factory(Site())
    assert client.get("/forgot", headers={"host": "evil.example"}).text == "http://evil.example/"


def test_paths_and_redirects_never_take_it(client_factory: ClientFactory) -> None:
    client = client_factory(Site())
    headers = {"host": "evil.example"}
    assert client.get("/paths", headers=headers).json() == {"path": "/", "app": "/"}
    redirect = client.get("/back", headers=headers, follow_redirects=False)
    assert redirect.headers["location"] == "/index"


@pytest.mark.parametrize("host", ["evil.example", "example.com.evil.example", ""])
def test_trusted_host_middleware_refuses_other_hosts(
    client_factory: ClientFactory, host: str
) -> None:
    trusted = [Middleware(TrustedHostMiddleware, allowed_hosts=["example.com"])]
    client = client_factory(Site(middleware=trusted))
    refused = client.get("/forgot", headers={"host": host})
    assert (refused.status_code, refused.text) == (400, "Invalid host header")
    served = client.get("/forgot", headers={"host": "example.com"})
    assert served.text == "http://example.com/"
