"""A header sent 300,000 times (uvicorn's httptools lets such requests through).

Joining the repeats as they came copied the whole value so far each time: quadratic,
20 s of a held event loop for 100,000 repeats of one request's ``Cookie`` or
``Content-Type``, minutes for this test's request. They are joined once now: a few
seconds on a loaded machine, well within the deadline below.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

from micropie import App
from tests.security.raw import call

REPEATS = 300_000
DEADLINE = 60


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Raise ``TimeoutError`` in this (the main) thread after ``seconds``, even mid-loop."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"over {seconds} s: repeated headers joined one by one again?")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


class Echo(App):
    async def save(self, item: str = ""):
        headers = self.request.headers
        return {
            "x-a": len(headers["x-a"]),
            "cookie": self.request.cookies.get("c"),
            "session": dict(self.request.session),
        }


def test_headers_repeated_300000_times_are_joined_in_one_go():
    headers = [
        *[(b"x-a", b"bc")] * REPEATS,
        *[(b"cookie", b"a=b")] * REPEATS,
        (b"cookie", b"c=d"),
        *[(b"content-type", b"application/json")] * REPEATS,
        (b"content-length", b"2"),
    ]
    with deadline(DEADLINE):
        answer = call(Echo(), "/save", method="POST", headers=headers, body=b"{}")
    # Many media types are not one: the body is left unread.
    assert answer.status == 200
    assert answer.text == f'{{"x-a":{4 * REPEATS - 2},"cookie":"d","session":{{}}}}'
