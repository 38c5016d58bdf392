"""API keys in front of the runtime's and the router's API: who is calling, and how much each caller may hold.

Keys live in a directory, one file per key named by the key's name (a mounted Kubernetes Secret: the kubelet
swaps the volume's `..data` symlink atomically when the Secret changes, so a read sees the old set or the new
one, never half of each). The directory is read again at most every `reloadSeconds`, when a request needs the
keys: a rotated key works without a restart, and a directory that cannot be read keeps the keys read before.
A presented key is compared with every key, each in constant time and without stopping at a match, over SHA-256
digests: neither its length nor which key matched shows in the time taken. Logs and metrics name keys by their
file names only; no message here ever holds a key.

Everything but /health, /ready, /metrics and /openapi.json needs a key: a route added later is closed until
it is named open here. Per key at most `maxConcurrentPerKey` requests may be in flight or queued at once; the
next gets 429 with Retry-After, counted under the key's name, so one client cannot take every slot and queue
place from the rest. A router in front authenticates with a key of `forwarders` and names its caller in
X-Voxdeploy-Caller; that name then counts as the caller's own. From any other key the header is ignored, so a
caller cannot borrow someone else's name or share.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from voxdeploy.contracts.api import CALLER_HEADER, HEALTH_PATH, METRICS_PATH, OPENAPI_PATH, READY_PATH
from voxdeploy.contracts.auth import KEY_NAME_PATTERN, ApiKeys
from voxdeploy.contracts.runtime import RuntimeServer
from voxdeploy.runtime.http import ApiError
from voxdeploy.runtime.logs import KEY_NAME
from voxdeploy.runtime.metrics import AuthCounters
from voxdeploy.runtime.metrics_port import metrics_port_middleware

log = logging.getLogger("voxdeploy.auth")

OPEN_PATHS = frozenset({HEALTH_PATH, READY_PATH, METRICS_PATH, OPENAPI_PATH})
"""Paths served without a key: probes, Prometheus (on a port of its own in pods) and the API's description."""
MIN_KEY_CHARS = 16
"""Shorter keys are refused: `openssl rand -hex 32` gives 64 characters; a short one is guessable."""
MAX_KEY_BYTES = 4096
MAX_KEYS = 10_000
PER_KEY_RETRY_AFTER = 1
"""Seconds a client over its per-key share is told to wait: one of its own requests ends by then, typically."""

_KEY_NAME = re.compile(KEY_NAME_PATTERN)
Entry = tuple[str, bytes]
"""(key name, SHA-256 digest of the key)."""


def caller_name(scope: Scope) -> str | None:
    """The name of the key the request came with (or the caller a router named), None on an open server. The Gate
    leaves it in the scope's state under logs.KEY_NAME, where the access line reads it too."""
    name = scope.get("state", {}).get(KEY_NAME)
    return name if isinstance(name, str) else None


def per_key_limit(auth: ApiKeys, server: RuntimeServer) -> int:
    """Requests one key may hold at once: the setting, else half of the server's slots and queue places."""
    if auth.max_concurrent_per_key is not None:
        return auth.max_concurrent_per_key
    return max(1, (server.max_concurrent_requests + server.max_queued_requests) // 2)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("ascii")).digest()


def _key_problem(key: str) -> str | None:
    """Why a key cannot be used (in words that never quote it), or None."""
    if not key:
        return "is empty"
    if not (key.isascii() and key.isprintable()) or any(c.isspace() for c in key):
        return "holds characters an Authorization header cannot carry (spaces, control or non-ASCII characters)"
    if len(key) < MIN_KEY_CHARS:
        return f"is shorter than {MIN_KEY_CHARS} characters (make one with `openssl rand -hex 32`)"
    return None


def read_key_file(path: Path) -> str:
    """The key one file holds, surrounding whitespace (an `echo`'s newline) removed; ValueError saying why not."""
    with path.open("rb") as handle:
        data = handle.read(MAX_KEY_BYTES + 1)
    if len(data) > MAX_KEY_BYTES:
        raise ValueError(f"is over {MAX_KEY_BYTES} bytes")
    try:
        key = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise ValueError("holds characters an Authorization header cannot carry") from None
    problem = _key_problem(key)
    if problem is not None:
        raise ValueError(problem)
    return key


@dataclass(frozen=True)
class KeySet:
    """What one read of a key directory found: usable keys by name, and why other files were left out."""

    entries: tuple[Entry, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.entries]


def read_key_directory(path: Path) -> KeySet:
    """Every usable key of a directory; a file that is not one is left out with the reason. OSError if the
    directory itself cannot be read."""
    files = sorted(entry for entry in os.listdir(path) if not entry.startswith("."))
    digests: dict[str, bytes] = {}
    problems: list[str] = []
    for name in files[:MAX_KEYS]:
        file = path / name
        if not file.is_file():
            continue
        if _KEY_NAME.fullmatch(name) is None:
            problems.append(f"{name!r} is not a key name (letters, digits, '-', '_', '.')")
            continue
        try:
            digests[name] = _digest(read_key_file(file))
        except ValueError as err:
            problems.append(f"key {name} {err}; left out")
        except OSError as err:
            problems.append(f"key {name} cannot be read ({err.strerror}); left out")
    if len(files) > MAX_KEYS:
        problems.append(f"more than {MAX_KEYS} files; the rest are left out")
    owners: dict[bytes, list[str]] = {}
    for name, digest in digests.items():
        owners.setdefault(digest, []).append(name)
    for names in owners.values():
        if len(names) > 1:
            problems.append(f"keys {', '.join(names)} are the same key; none of them is used (a key names one caller)")
            for name in names:
                del digests[name]
    return KeySet(tuple(digests.items()), tuple(problems))


@dataclass
class KeySource:
    """The keys of one directory, read again at most every `reload_seconds` when asked for; a change, a problem and
    a failing read are logged once each, by key name."""

    path: Path
    reload_seconds: float
    what: str
    on_change: Callable[[list[str]], None] = lambda _: None
    clock: Callable[[], float] = time.monotonic
    _found: KeySet | None = field(default=None, init=False)
    _failure: str | None = field(default=None, init=False)
    _read_at: float = field(default=-math.inf, init=False)

    def entries(self) -> tuple[Entry, ...]:
        now = self.clock()
        if now - self._read_at >= self.reload_seconds:
            self._read_at = now
            self._read()
        return () if self._found is None else self._found.entries

    def _read(self) -> None:
        try:
            found = read_key_directory(self.path)
        except OSError as err:
            failure = f"{self.what}: cannot read {self.path} ({err.strerror})"
            if failure != self._failure:
                kept = len(self._found.entries) if self._found else 0
                log.error("%s; keeping the %d keys read before", failure, kept)
            self._failure = failure
            return
        self._failure = None
        if found == self._found:
            return
        for problem in found.problems:
            log.warning("%s in %s: %s", self.what, self.path, problem)
        verb = "read" if self._found is None else "reloaded"
        if found.entries:
            log.info("%s %s from %s: %s", self.what, verb, self.path, ", ".join(found.names))
        else:
            log.error("%s: %s holds no usable key; every request needing one gets 401", self.what, self.path)
        self._found = found
        self.on_change(found.names)


def _match(entries: Iterable[Entry], digest: bytes) -> str | None:
    """The name of the key with this digest; every key is compared, all the way, whichever matches."""
    found = None
    for name, candidate in entries:
        if hmac.compare_digest(candidate, digest):
            found = name
    return found


class KeyRefused(ApiError):
    """401 as OpenAI answers a missing or wrong key (its client raises AuthenticationError): the `error` object
    with type invalid_request_error and code invalid_api_key, and the Bearer challenge of RFC 6750."""

    def __init__(self, message: str) -> None:
        super().__init__(401, message, None, "invalid_request_error", code="invalid_api_key")

    def response(self) -> JSONResponse:
        response = super().response()
        response.headers["WWW-Authenticate"] = 'Bearer realm="voxdeploy"'
        return response


def bearer_key(headers: Headers) -> str | None:
    """The key of an `Authorization: Bearer <key>` header (the scheme in any case), or None."""
    scheme, _, key = headers.get("authorization", "").strip().partition(" ")
    key = key.strip()
    return key if scheme.lower() == "bearer" and key else None


class Keyring:
    """The keys a server checks, and how many requests each caller holds now."""

    def __init__(self, auth: ApiKeys, server: RuntimeServer, counters: AuthCounters) -> None:
        self.counters = counters
        self.limit = per_key_limit(auth, server)
        self.callers = KeySource(Path(auth.keys), auth.reload_seconds, "API keys", counters.known)
        self.forwarders = (
            None if auth.forwarders is None else KeySource(Path(auth.forwarders), auth.reload_seconds, "forwarder keys")
        )
        self.held: dict[str, int] = {}
        counters.known(())

    def identify(self, headers: Headers) -> str:
        """The caller's name: its key's, or the one a forwarder named. KeyRefused (401) if it has no key or one
        that matches none; ApiError 400 if a forwarder names no valid caller."""
        key = bearer_key(headers)
        if key is None:
            self.counters.refused("missing")
            raise KeyRefused("no API key: send `Authorization: Bearer <key>` (the OpenAI client's api_key)")
        digest = _digest(key) if key.isascii() else b""
        name = _match(self.callers.entries(), digest)
        forwarder = None if self.forwarders is None else _match(self.forwarders.entries(), digest)
        if forwarder is not None:
            caller = headers.get(CALLER_HEADER)
            if caller is None:
                return forwarder
            if _KEY_NAME.fullmatch(caller) is None:
                raise ApiError(400, f"{CALLER_HEADER} must be a key name", CALLER_HEADER)
            return caller
        if name is None:
            self.counters.refused("invalid")
            raise KeyRefused("the API key is not valid; check the key the client sends")
        return name

    def take(self, name: str) -> bool:
        """Hold one more request for `name`; False (counted) when it holds its limit already."""
        held = self.held.get(name, 0)
        if held >= self.limit:
            self.counters.limited(name)
            return False
        self.held[name] = held + 1
        return True

    def release(self, name: str) -> None:
        held = self.held[name] - 1
        if held:
            self.held[name] = held
        else:
            del self.held[name]


class Gate:
    """ASGI middleware: a key for every path but OPEN_PATHS, the caller's name in the scope, its per-key share.

    With no keyring the server is open; it says so at start (the lifespan), as it says which keys it reads."""

    def __init__(self, app: ASGIApp, keyring: Keyring | None, where: str) -> None:
        self.app = app
        self.keyring = keyring
        self.where = where

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        keyring = self.keyring
        if scope["type"] == "lifespan":
            self._announce()
        if scope["type"] != "http" or keyring is None or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        try:
            name = keyring.identify(Headers(scope=scope))
        except ApiError as err:
            await err.response()(scope, receive, send)
            return
        scope.setdefault("state", {})[KEY_NAME] = name
        if not keyring.take(name):
            refusal = ApiError(
                429,
                f"the key {name} has {keyring.limit} requests in flight or queued already, its share of this "
                "server; retry when one has finished",
                None,
                "rate_limit_exceeded",
                retry_after=PER_KEY_RETRY_AFTER,
            )
            await refusal.response()(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            keyring.release(name)

    def _announce(self) -> None:
        if self.keyring is None:
            log.warning(
                "no API keys: anyone who can reach %s may use the API (fine on one's own machine; give --api-keys "
                "DIR, or in a pod the stack's auth.keysSecret)",
                self.where,
            )
            return
        self.keyring.callers.entries()
        log.info(
            "API keys required on every path but %s; %d requests at once per key",
            ", ".join(sorted(OPEN_PATHS)),
            self.keyring.limit,
        )


def front_door(auth: ApiKeys | None, server: RuntimeServer, counters: AuthCounters, host: str) -> list[Middleware]:
    """The middleware every server (runtime and router) puts under LastResort: /metrics on its own port when one
    is set, then the key check."""
    keyring = None if auth is None else Keyring(auth, server, counters)
    where = f"{host}:{server.port}"
    return [*metrics_port_middleware(server), Middleware(Gate, keyring=keyring, where=where)]


class OwnKey:
    """A router's own key (one file of a mounted Secret), read again at most every `reload_seconds`, so a rotated
    Secret reaches it without a restart; a file that cannot be read keeps the key read before."""

    def __init__(self, path: str, reload_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        self.reload_seconds = reload_seconds
        self.clock = clock
        self._key: str | None = None
        self._failure: str | None = None
        self._read_at = -math.inf

    def key(self) -> str | None:
        now = self.clock()
        if now - self._read_at >= self.reload_seconds:
            self._read_at = now
            try:
                key = read_key_file(self.path)
            except (OSError, ValueError) as err:
                failure = f"the router's own key {self.path}: {getattr(err, 'strerror', None) or err}"
                if failure != self._failure:
                    log.error("%s; %s", failure, "keeping the key read before" if self._key else "tiers get no key")
                self._failure = failure
                return self._key
            if key != self._key and self._key is not None:
                log.info("the router's own key %s changed; tiers get the new one", self.path)
            self._key, self._failure = key, None
        return self._key


def upstream_headers(own: OwnKey | None, caller: str | None) -> dict[str, str]:
    """What the router adds to a forwarded request: its own key, and the caller's key name (never the key)."""
    headers: dict[str, str] = {}
    key = None if own is None else own.key()
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
        if caller is not None:
            headers[CALLER_HEADER.lower()] = caller
    return headers
