"""Publish/subscribe channels shared by every worker process: in memory or on Redis.

:class:`Broadcast` is the hub. Its engine carries messages between processes:
``memory://`` keeps them in this process (one worker, tests), ``redis://`` relays them
through Redis pub/sub so that every worker on every machine sees them. Each worker holds
one Redis subscription per channel, however many local subscribers it has, and fans
each message out to them through bounded per-subscriber queues.

::

    broadcast = Broadcast(os.environ.get("REDIS_URL", "memory://"))
    broadcast.install(app)

    await broadcast.publish("chat", {"text": "hi"})
    async with broadcast.subscribe("chat") as subscriber:
        async for message in subscriber:
            ...
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlsplit

import anyio

from ._optional import require
from .body import loads_json
from .streaming import dumps_json

if TYPE_CHECKING:
    from .app import App

__all__ = [
    "Broadcast",
    "BroadcastError",
    "BroadcastUnavailable",
    "Overflow",
    "Subscriber",
    "SubscriberOverflow",
]

logger = logging.getLogger("micropie.broadcast")

#: What a subscriber whose queue is full gets: ``"disconnect"`` ends its iteration with
#: :class:`SubscriberOverflow`; ``"drop_oldest"`` discards its oldest queued message.
Overflow = Literal["disconnect", "drop_oldest"]

_OVERFLOWS = ("disconnect", "drop_oldest")
_RETRY_FIRST = 0.1  # seconds before the first reconnection attempt; doubles up to _RETRY_MAX
_RETRY_MAX = 2.0


class BroadcastError(Exception):
    """Base class of the errors :class:`Broadcast` raises."""


class BroadcastUnavailable(BroadcastError):
    """The engine (Redis) cannot be reached: the message was not published."""


class SubscriberOverflow(BroadcastError):
    """A subscriber fell ``max_queue`` messages behind and was disconnected."""


class Subscriber:
    """The messages of one channel for one consumer; iterate with ``async for``.

    Messages wait in a queue of at most ``max_queue``. When it is full, the ``overflow``
    policy applies: ``"disconnect"`` ends the iteration with :class:`SubscriberOverflow`
    (the consumer can close its websocket and let the client reconnect);
    ``"drop_oldest"`` discards the oldest queued message and counts it in
    :attr:`dropped`. Iteration ends when the broadcast disconnects.
    """

    def __init__(self, channel: str, max_queue: int, overflow: Overflow) -> None:
        _check_queue(max_queue, overflow)
        #: The channel this subscriber listens to.
        self.channel = channel
        #: Messages discarded by the ``"drop_oldest"`` policy.
        self.dropped = 0
        self._max_queue = max_queue
        self._overflow = overflow
        self._queue: deque[Any] = deque()
        self._wakeup = asyncio.Event()
        self._ended = False
        self._overflowed = False

    def __aiter__(self) -> Subscriber:
        return self

    async def __anext__(self) -> Any:
        while not self._queue:
            if self._overflowed:
                raise SubscriberOverflow(
                    f"a subscriber to {self.channel!r} fell {self._max_queue} messages behind"
                )
            if self._ended:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._queue.popleft()

    def _put(self, message: Any) -> None:
        """Queue ``message`` without ever waiting (called by the hub for every message)."""
        if self._ended:
            return
        queue = self._queue
        if len(queue) >= self._max_queue:
            if self._overflow == "disconnect":
                logger.warning(
                    "Disconnecting a subscriber to %r: %d messages behind",
                    self.channel,
                    self._max_queue,
                )
                queue.clear()
                self._overflowed = True
                self._end()
                return
            if self.dropped == 0:
                logger.warning(
                    "A subscriber to %r is %d messages behind: dropping its oldest messages",
                    self.channel,
                    self._max_queue,
                )
            queue.popleft()
            self.dropped += 1
        queue.append(message)
        self._wakeup.set()

    def _end(self) -> None:
        self._ended = True
        self._wakeup.set()


def _check_queue(max_queue: int, overflow: str) -> None:
    if max_queue < 1:
        raise ValueError("max_queue must be at least 1")
    if overflow not in _OVERFLOWS:
        raise ValueError(f"overflow must be one of {_OVERFLOWS}, not {overflow!r}")


class _Engine(Protocol):
    """Carries published payloads to the hub of every subscribed process."""

    @property
    def connected(self) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, channel: str, payload: bytes) -> None: ...

    async def join(self, channel: str) -> None: ...

    async def leave(self, channel: str) -> None: ...


class Broadcast:
    """A publish/subscribe hub on ``memory://`` (this process) or ``redis://`` (all).

    ``url`` is ``"memory://"`` or a redis-py URL (``redis://host:6379/0``,
    ``rediss://`` for TLS, ``unix://``); Redis needs ``pip install "micropie[redis]"``.
    Pub/sub channels are global to a Redis server, whatever the database number.

    ``max_queue`` and ``overflow`` are the defaults for each subscriber's bounded queue
    (see :class:`Subscriber`). Messages are JSON values; every subscriber of a process
    receives the same decoded object, so treat it as read-only. ``timeout`` is how many
    seconds Redis may take to answer a publish (then :class:`BroadcastUnavailable`) or to
    confirm a new subscription (then ``subscribe`` returns; it is confirmed, and messages
    flow, once Redis answers).
    """

    def __init__(
        self,
        url: str = "memory://",
        *,
        max_queue: int = 1000,
        overflow: Overflow = "disconnect",
        timeout: float = 5.0,
    ) -> None:
        _check_queue(max_queue, overflow)
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        self.url = url
        self.max_queue = max_queue
        self.overflow: Overflow = overflow
        self._channels: dict[str, set[Subscriber]] = {}
        self._engine = _engine_for(url, self._deliver, timeout)
        self._running = False

    def install(self, app: App) -> None:
        """Connect at ``app``'s lifespan startup and disconnect at its shutdown."""
        app.startup_handlers.append(self.connect)
        app.shutdown_handlers.append(self.disconnect)

    async def connect(self) -> None:
        """Start the engine. With Redis down, keep retrying in the background (logged)."""
        if not self._running:
            await self._engine.start()
            self._running = True

    async def disconnect(self) -> None:
        """Stop the engine and end every subscriber's iteration."""
        if not self._running:
            return
        self._running = False
        for subscribers in self._channels.values():
            for subscriber in subscribers:
                subscriber._end()
        await self._engine.stop()

    async def __aenter__(self) -> Broadcast:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect()

    @property
    def connected(self) -> bool:
        """Whether messages flow: connected, and (Redis) every channel's subscription live."""
        return self._running and self._engine.connected

    async def publish(self, channel: str, message: Any) -> None:
        """Send ``message`` (a JSON value) to every subscriber of ``channel``.

        Raises :class:`BroadcastUnavailable` when Redis cannot be reached and
        ``TypeError`` when ``message`` is not JSON-serialisable.
        """
        self._check_running()
        await self._engine.publish(channel, dumps_json(message))

    @contextlib.asynccontextmanager
    async def subscribe(
        self, channel: str, *, max_queue: int | None = None, overflow: Overflow | None = None
    ) -> AsyncIterator[Subscriber]:
        """Receive ``channel``'s messages while the ``async with`` block runs.

        Messages published after this returns reach the subscriber (while the engine is
        connected). ``max_queue`` and ``overflow`` override the broadcast's defaults.
        """
        self._check_running()
        subscriber = Subscriber(
            channel,
            self.max_queue if max_queue is None else max_queue,
            self.overflow if overflow is None else overflow,
        )
        subscribers = self._channels.setdefault(channel, set())
        subscribers.add(subscriber)
        try:
            if len(subscribers) == 1:
                await self._engine.join(channel)
            yield subscriber
        finally:
            subscriber._end()
            subscribers.discard(subscriber)
            if not subscribers and self._channels.get(channel) is subscribers:
                del self._channels[channel]
                if self._running:
                    await self._engine.leave(channel)

    def _deliver(self, channel: str, payload: bytes) -> None:
        """Decode one published payload and queue it for each local subscriber."""
        subscribers = self._channels.get(channel)
        if not subscribers:
            return
        try:
            message = loads_json(payload)
        except ValueError:
            logger.warning("Ignoring a message on %r that is not JSON", channel)
            return
        for subscriber in tuple(subscribers):
            subscriber._put(message)

    def _check_running(self) -> None:
        if not self._running:
            raise RuntimeError(
                "Broadcast is not connected: call broadcast.install(app) before the app "
                "starts, or use `async with broadcast:`"
            )


def _engine_for(url: str, deliver: _Deliver, timeout: float) -> _Engine:
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return _MemoryEngine(deliver)
    if scheme in ("redis", "rediss", "unix"):
        return _RedisEngine(url, deliver, timeout)
    raise ValueError(f"Broadcast supports memory://, redis://, rediss:// and unix:// URLs: {url!r}")


class _Deliver(Protocol):
    def __call__(self, channel: str, payload: bytes) -> None: ...


class _MemoryEngine:
    """Delivers each message straight to this process's subscribers."""

    connected = True

    def __init__(self, deliver: _Deliver) -> None:
        self._deliver = deliver

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def publish(self, channel: str, payload: bytes) -> None:
        self._deliver(channel, payload)

    async def join(self, channel: str) -> None:
        pass

    async def leave(self, channel: str) -> None:
        pass


class _RedisEngine:
    """Redis pub/sub: one connection publishes, one subscribes to this process's channels.

    A listener task reads the subscription connection. When it breaks, the listener
    logs it, retries with a growing delay, and subscribes again to every channel that
    still has local subscribers once Redis answers; publishing meanwhile raises
    :class:`BroadcastUnavailable`.
    """

    def __init__(self, url: str, deliver: _Deliver, timeout: float) -> None:
        self._timeout = timeout
        redis, retry, backoff, exceptions = (
            require(module, feature="Broadcast", package="redis", extra="redis")
            for module in (
                "redis.asyncio",
                "redis.asyncio.retry",
                "redis.backoff",
                "redis.exceptions",
            )
        )
        self._errors: tuple[type[Exception], ...] = (
            exceptions.ConnectionError,
            exceptions.TimeoutError,
            OSError,
        )
        # Publishing retries once at once: a pooled connection may have died with a restart.
        self._publisher: Any = redis.from_url(url, retry=retry.Retry(backoff.NoBackoff(), 1))
        # The subscription never retries by itself: the listener notices every outage.
        # TCP keepalive tells it of a peer gone silently (a unix socket has no such option).
        keepalive = {} if urlsplit(url).scheme == "unix" else {"socket_keepalive": True}
        self._subscriber: Any = redis.from_url(
            url, retry=retry.Retry(backoff.NoBackoff(), 0), **keepalive
        )
        self._deliver = deliver
        #: The Redis server, as the outage log lines name it (no credentials).
        self.address = _address(self._subscriber)
        self._channels: set[str] = set()  # channels with local subscribers
        self._pubsub: Any = None  # the live subscription connection, if any
        self._pending: dict[str, int] = {}  # SUBSCRIBE commands not yet confirmed
        self._joined: set[str] = set()  # channels Redis confirmed on this connection
        self._changed = asyncio.Condition()
        self._first_attempt = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._pubsub is not None and self._joined >= self._channels

    async def start(self) -> None:
        self._listener = asyncio.create_task(self._listen(), name="micropie broadcast listener")
        await self._first_attempt.wait()

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        _CUT_OFF.get(self.address, set()).discard(self)  # stopped: no longer waited for
        await self._publisher.aclose()
        await self._subscriber.aclose()

    async def publish(self, channel: str, payload: bytes) -> None:
        try:
            with anyio.fail_after(self._timeout):  # a stalled Redis: give up, never hang
                await self._publisher.publish(channel, payload)
        except TimeoutError:
            raise BroadcastUnavailable(
                f"Redis did not answer within {self._timeout} s; the message to {channel!r} "
                "may not be published (a stalled Redis that resumes still delivers it)"
            ) from None
        except self._errors as exc:
            raise BroadcastUnavailable(
                f"Redis is unreachable; the message to {channel!r} was not published: {exc}"
            ) from exc

    async def join(self, channel: str) -> None:
        """Subscribe to ``channel``; return once Redis confirmed it (or is unreachable)."""
        self._channels.add(channel)
        pubsub = self._pubsub
        if pubsub is None:
            return  # Redis is down: the listener subscribes when it is back
        await self._subscribe(pubsub, channel)
        with anyio.move_on_after(self._timeout):  # a stalled Redis confirms it later
            async with self._changed:
                await self._changed.wait_for(
                    lambda: channel in self._joined or self._pubsub is not pubsub
                )

    async def leave(self, channel: str) -> None:
        self._channels.discard(channel)
        self._joined.discard(channel)
        pubsub = self._pubsub
        if pubsub is not None:
            with contextlib.suppress(*self._errors):
                await pubsub.unsubscribe(channel)

    async def _subscribe(self, pubsub: Any, *channels: str) -> None:
        for channel in channels:
            self._pending[channel] = self._pending.get(channel, 0) + 1
        with contextlib.suppress(*self._errors):  # the listener sees the outage too
            await pubsub.subscribe(*channels)

    async def _listen(self) -> None:
        delay, lost, reached = _RETRY_FIRST, False, False
        while True:
            pubsub = self._subscriber.pubsub()
            try:
                await pubsub.connect()
                await self._resume(pubsub, lost, reached)
                delay, lost, reached = _RETRY_FIRST, False, True
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is not None:
                        await self._handle(message)
            except self._errors as exc:
                if not lost:
                    _report_lost(self, exc, reached)
                lost = True
            finally:
                await self._drop(pubsub)
                self._first_attempt.set()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX)

    async def _resume(self, pubsub: Any, after_outage: bool, reached: bool) -> None:
        self._pubsub = pubsub
        self._first_attempt.set()
        if self._channels:
            await self._subscribe(pubsub, *self._channels)
        if after_outage:
            _report_back(self, reached)

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        channel = message["channel"].decode("utf-8", "replace")
        if kind == "message":
            self._deliver(channel, message["data"])
        elif kind == "subscribe":
            left = self._pending.get(channel, 1) - 1
            if left > 0:
                self._pending[channel] = left
                return
            self._pending.pop(channel, None)
            if channel in self._channels:
                self._joined.add(channel)
            async with self._changed:
                self._changed.notify_all()

    async def _drop(self, pubsub: Any) -> None:
        """Forget a subscription connection that ended; wake whoever waits on it."""
        self._pubsub = None
        self._pending.clear()
        self._joined.clear()
        async with self._changed:
            self._changed.notify_all()
        with contextlib.suppress(*self._errors):
            await pubsub.aclose()


#: This process's engines cut off from Redis, by server address. A process may run several
#: broadcasts on one server (an app per mounted demo): an outage is logged once for all.
_CUT_OFF: dict[str, weakref.WeakSet[_RedisEngine]] = {}


def _address(client: Any) -> str:
    """``host:port`` (or the socket path) of a redis-py client's server."""
    options = client.connection_pool.connection_kwargs
    path = options.get("path")
    return str(path) if path else f"{options.get('host', 'localhost')}:{options.get('port', 6379)}"


def _report_lost(engine: _RedisEngine, exc: BaseException, reached: bool) -> None:
    """Log the outage when ``engine`` is the first of this process to lose its server.

    ``reached`` tells whether the engine was ever connected: one started while Redis is
    down says it cannot reach it, not that it lost a connection it never had.
    """
    cut_off = _CUT_OFF.setdefault(engine.address, weakref.WeakSet())
    if not cut_off:
        if reached:
            logger.error(
                "Broadcast: lost the connection to Redis at %s (%s); retrying. Subscribers "
                "resume when it is back; messages published meanwhile do not reach them",
                engine.address,
                exc,
            )
        else:
            logger.error(
                "Broadcast: cannot reach Redis at %s (%s); retrying. Subscribers start "
                "receiving once it answers; messages published meanwhile do not reach them",
                engine.address,
                exc,
            )
    cut_off.add(engine)


def _report_back(engine: _RedisEngine, reached: bool) -> None:
    """Log the end of the outage when ``engine`` is the last of this process to reconnect."""
    cut_off = _CUT_OFF.get(engine.address)
    if cut_off is None or engine not in cut_off:
        return
    cut_off.discard(engine)
    if not cut_off:
        del _CUT_OFF[engine.address]
        again = "reconnected" if reached else "connected"
        logger.warning("Broadcast: %s to Redis at %s; subscriptions resume", again, engine.address)
