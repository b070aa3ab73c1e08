"""Shared state of one fake provider: keys, scripted faults, and what the server saw.

Faults are chosen per request by the ``x-fake-fault`` header (or a ``fault=<spec>`` word in
the model name). A spec is ``name`` or ``name:N`` (fire the first N times for that spec and
``x-fake-fault-key``, then behave normally):

* ``<status>`` (e.g. ``429``, ``503``, ``500``): that status with the flavour's error body;
  429/503 carry ``Retry-After`` from ``x-fake-retry-after`` (default ``0``) and
  ``retry-after-ms`` from ``x-fake-retry-after-ms`` when given.
* ``quota``: the flavour's documented "balance/quota is gone" answer (``errors.quota``: OpenAI
  429 ``insufficient_quota``, GLM 429 code 1113, Kimi 429 ``exceeded_current_quota_error``, Ark
  403 ``AccountOverdueError``, DashScope 400 ``Arrearage``, MiniMax 200 base_resp 1008, ...).
* ``blocked``: the flavour's content-filter refusal of the request (``errors.refusal``: DashScope
  ``data_inspection_failed``, Ark ``InputTextRiskDetection``, GLM 1301, MiniMax 1026); flavours
  without one answer normally.
* ``error-mid``: two stream frames, then the flavour's in-stream error event, then the end.
* ``stall-first[:secs]``: sleep before sending headers (default: until cancelled).
* ``stall-mid``: send a few chunks (headers only for non-streaming calls), then stall.
* ``malformed``: a stream frame that is not JSON.  ``drop``: close the socket mid-stream.
* ``length`` / ``content_filter``: finish with that reason.  ``keepalive``: ``:``-comments
  between frames.
* ``bad-json[:N]``: an answer asked for structured output is not JSON (fakeprovider/structured.py).
* ``gzip``: a non-streamed chat answer sent gzip-compressed.  ``huge-error``: a 500 whose
  body is 300 KB.

Each recorded request (``requests[i]``) keeps its headers without ``authorization`` and
``x-api-key``; ``requests[i]["key"]`` is :func:`key_tag` of the credential it carried (the
Bearer token or the ``x-api-key`` value, ``""`` when none), so tests can tell which of several
keys a request used without the fake storing keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
import orjson

DEFAULT_KEY = "sk-fake-0123456789abcdef"
SENSENOVA_AK = "fake-ak"
SENSENOVA_SK = "fake-sk-secret"


@dataclass
class Fault:
    name: str
    arg: str | None = None

    @property
    def status(self) -> int | None:
        return int(self.name) if self.name.isdigit() and len(self.name) == 3 else None

    def seconds(self, default: float) -> float:
        return float(self.arg) if self.arg else default


@dataclass
class FakeState:
    """Everything a test may want to inspect or tune."""

    keys: set[str] = field(default_factory=lambda: {DEFAULT_KEY})
    counters: dict[str, int] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    streams_open: int = 0
    streams_closed: int = 0
    disconnects: int = 0
    stream_closed: anyio.Event | None = None
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    seq: int = 0

    def next_id(self, prefix: str) -> str:
        self.seq += 1
        return f"{prefix}{self.seq:06d}"

    def fault_for(self, headers: Any, model: str | None) -> Fault | None:
        spec = headers.get("x-fake-fault")
        if not spec and model and "fault=" in model:
            spec = model.split("fault=", 1)[1].split()[0]
        if not spec:
            return None
        name, _, rest = spec.partition(":")
        times: int | None = None
        arg: str | None = None
        if rest:
            if name.isdigit() or name in ("quota", "blocked", "malformed", "drop", "bad-json"):
                times = int(rest)
            else:
                arg = rest
        if times is not None:
            key = f"{spec}|{headers.get('x-fake-fault-key', '')}"
            n = self.counters.get(key, 0)
            self.counters[key] = n + 1
            if n >= times:
                return None
        return Fault(name, arg)

    def stream_opened(self) -> None:
        self.streams_open += 1
        if self.stream_closed is None or self.stream_closed.is_set():
            self.stream_closed = anyio.Event()

    def stream_ended(self, disconnected: bool) -> None:
        self.streams_open -= 1
        self.streams_closed += 1
        self.disconnects += int(disconnected)
        if self.stream_closed is not None:
            self.stream_closed.set()


def key_tag(credential: str) -> str:
    """A short, stable fingerprint of a credential (what ``requests[i]["key"]`` holds)."""
    return hashlib.sha256(credential.encode()).hexdigest()[:12] if credential else ""


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def make_sensenova_jwt(ak: str = SENSENOVA_AK, sk: str = SENSENOVA_SK, ttl: float = 1800) -> str:
    """An HS256 JWT as SenseNova wants it: ``{iss: ak, exp, nbf}`` signed with the secret key."""
    def enc(obj: Any) -> bytes:
        return base64.urlsafe_b64encode(orjson.dumps(obj)).rstrip(b"=")
    now = int(time.time())
    signing = enc({"alg": "HS256", "typ": "JWT"}) + b"." + enc({"iss": ak, "exp": now + int(ttl), "nbf": now - 5})
    sig = base64.urlsafe_b64encode(hmac.new(sk.encode(), signing, hashlib.sha256).digest()).rstrip(b"=")
    return (signing + b"." + sig).decode()


def verify_sensenova_jwt(token: str, ak: str = SENSENOVA_AK, sk: str = SENSENOVA_SK) -> str | None:
    """None when valid, else why not."""
    try:
        head, payload, sig = token.split(".")
        header = orjson.loads(_b64url_decode(head))
        claims = orjson.loads(_b64url_decode(payload))
        given = _b64url_decode(sig)
    except (ValueError, orjson.JSONDecodeError):
        return "malformed token"
    if header.get("alg") != "HS256":
        return "unsupported alg"
    want = hmac.new(sk.encode(), f"{head}.{payload}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(want, given):
        return "bad signature"
    if claims.get("iss") != ak:
        return "unknown issuer"
    now = time.time()
    if not isinstance(claims.get("exp"), int | float) or claims["exp"] < now:
        return "token expired"
    if isinstance(claims.get("nbf"), int | float) and claims["nbf"] > now + 5:
        return "token not yet valid"
    return None
