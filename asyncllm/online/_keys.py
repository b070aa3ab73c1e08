"""Where each request's API key comes from: one fixed key, a pool of keys, or the session.

A provider turns one key into request headers with its ``_make_auth(key)`` hook (Bearer by
default, ``x-api-key`` for Claude, a refreshed JWT for SenseNova); the key source decides
which key a request uses:

* :class:`FixedKey`   one key (or none, with ``skip_auth``): its headers are built once and
  the same dict is handed to every request.
* :class:`KeyPool`    ``api_key=[k1, k2, ...]``: round-robin over the keys. A key the provider
  rejects (401/403) or whose quota is used up is set aside for this module; when every key is
  set aside, all are tried again (a quota may have been refilled, a key restored).
* :class:`SessionKey` ``api_key="dynamic"``: the key is read for every request from the
  settings of the running task (``al.config.override(<source>_api_key=...)``), else from the
  environment, so concurrent requests of different users each send their own key.

Keys travel as :class:`~asyncllm._config.Secret` and are unwrapped only into the headers dict,
whose repr hides every value.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Protocol

from .._config import Secret, config, env_names_for_key
from .._exceptions import (
    APIStatusError,
    AuthenticationError,
    ConfigError,
    PermissionDeniedError,
    QuotaExceededError,
)
from .._http import HTTPOptions, HTTPSettings, http_settings, request_json
from .._http.options import reject_unknown

__all__ = ["KEY_ERRORS", "ApiKey", "Auth", "FixedKey", "KeyPool", "KeySource", "KeyedProvider", "RedactedHeaders",
           "SessionKey", "StaticAuth", "key_source", "resolve_key"]

log = logging.getLogger("asyncllm.online")

ApiKey = str | Secret | Sequence[str | Secret] | None
"""What ``api_key=`` takes: a key, a list of keys, ``"dynamic"``, or None (from the settings)."""

DYNAMIC = frozenset({"dynamic", "auto"})

#: errors that say the key, not the request, is the problem: another key may succeed
KEY_ERRORS: tuple[type[APIStatusError], ...] = (AuthenticationError, PermissionDeniedError, QuotaExceededError)

# Dynamic auth keeps the headers of the keys it has seen; a server with many users must not
# grow this without bound.
SESSION_CACHE_SIZE = 256


class RedactedHeaders(dict[str, str]):
    """Request headers whose repr hides every value (they carry keys)."""

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k!r}: '***'" for k in self) + "}"


class Auth(Protocol):
    """Headers for one key. ``headers()`` returns the same dict object on every call (refreshed
    in place when the provider's token expires): the key pool recognises a key by it."""

    def headers(self) -> dict[str, str]: ...


class StaticAuth:
    """Headers that never change for the life of the key."""

    __slots__ = ("_headers",)

    def __init__(self, headers: RedactedHeaders) -> None:
        self._headers = headers

    def headers(self) -> dict[str, str]:
        return self._headers

    def __repr__(self) -> str:
        return "<StaticAuth ***>"


MakeAuth = Callable[[Secret | None], Auth]


class KeySource(Protocol):
    def headers(self) -> dict[str, str]:
        """The headers for the next request."""
        ...

    def set_aside(self, headers: dict[str, str], exc: BaseException) -> bool:
        """The request sent with ``headers`` failed with a key error (one of :data:`KEY_ERRORS`):
        stop using that key; True when another usable key is left to retry on."""
        ...

    @property
    def first(self) -> Secret | None:
        """The key (the first of several; None for dynamic auth or no auth)."""
        ...

    @property
    def static(self) -> dict[str, str] | None:
        """The headers when every request sends the same dict (one key, no refresh), else None:
        modules hand that dict out directly, the cheapest path there is."""
        ...

    def describe(self) -> str | None:
        """A short, value-free description for reprs (None for one fixed key)."""
        ...


class FixedKey:
    """One key for every request: the cheapest path, one cached headers dict."""

    __slots__ = ("_auth", "_key")

    def __init__(self, auth: Auth, key: Secret | None) -> None:
        self._auth = auth
        self._key = key

    def headers(self) -> dict[str, str]:
        return self._auth.headers()

    def set_aside(self, headers: dict[str, str], exc: BaseException) -> bool:
        return False

    @property
    def first(self) -> Secret | None:
        return self._key

    @property
    def static(self) -> dict[str, str] | None:
        return self._auth.headers() if isinstance(self._auth, StaticAuth) else None

    def describe(self) -> str | None:
        return None

    def __repr__(self) -> str:
        return "<FixedKey ***>"


class KeyPool:
    """Several keys, used round-robin; keys the provider rejects are set aside."""

    __slots__ = ("_aside", "_auths", "_dicts", "_keys", "_next", "_source")

    def __init__(self, keys: Sequence[Secret], make: MakeAuth, source: str = "") -> None:
        self._source = source
        self._keys = tuple(keys)
        self._auths = [make(k) for k in self._keys]
        # The dict each key's auth hands out: how set_aside() tells which key a request used.
        self._dicts = [a.headers() for a in self._auths]
        self._aside: set[int] = set()
        self._next = 0

    def __len__(self) -> int:
        return len(self._keys)

    def headers(self) -> dict[str, str]:
        n = len(self._auths)
        if len(self._aside) >= n:
            self._aside.clear()  # every key failed once: try them all again rather than fail blind
        i = self._next
        while i % n in self._aside:
            i += 1
        self._next = (i + 1) % n
        return self._auths[i % n].headers()

    def set_aside(self, headers: dict[str, str], exc: BaseException) -> bool:
        slot = next((i for i, d in enumerate(self._dicts) if d is headers), None)
        if slot is None:
            return False  # headers built elsewhere (a subclass's own _auth_headers): not ours to judge
        self._aside.add(slot)
        left = len(self._keys) - len(self._aside)
        note = (f"{self._source or 'provider'}: API key #{slot + 1} of {len(self._keys)} set aside for this "
                f"module after {type(exc).__name__}; {left} left")
        log.warning("%s", note)
        if isinstance(exc, Exception):
            exc.add_note(note)
        return left > 0

    @property
    def first(self) -> Secret | None:
        return self._keys[0]

    @property
    def static(self) -> dict[str, str] | None:
        return None

    @property
    def usable(self) -> int:
        """How many keys are not set aside."""
        return len(self._keys) - len(self._aside)

    def describe(self) -> str:
        return f"{len(self._keys)} keys"

    def __repr__(self) -> str:
        return f"<KeyPool {len(self._keys)} keys, {len(self._aside)} set aside>"


class SessionKey:
    """The key of the running task's settings, read per request (dynamic auth)."""

    __slots__ = ("_cache", "_make", "_none", "_required", "_source")

    def __init__(self, source: str, make: MakeAuth, required: bool) -> None:
        self._source = source
        self._make = make
        self._required = required
        self._none = make(None)
        self._cache: dict[Secret, Auth] = {}

    def headers(self) -> dict[str, str]:
        key = config.api_key(self._source)
        if key is None:
            if self._required:
                names = ", ".join(env_names_for_key(self._source))
                raise ConfigError(
                    f"dynamic auth: no {self._source}_api_key for this call; set it around the call with "
                    f"`with al.config.override({self._source}_api_key=...)`, or in one of {names}")
            return self._none.headers()
        auth = self._cache.get(key)
        if auth is None:
            if len(self._cache) >= SESSION_CACHE_SIZE:
                del self._cache[next(iter(self._cache))]  # the oldest key seen
            auth = self._cache[key] = self._make(key)
        return auth.headers()

    def set_aside(self, headers: dict[str, str], exc: BaseException) -> bool:
        return False  # the session chose this key; there is no other to try

    @property
    def first(self) -> Secret | None:
        return None

    @property
    def static(self) -> dict[str, str] | None:
        return None

    def describe(self) -> str:
        return "dynamic"

    def __repr__(self) -> str:
        return f"<SessionKey {self._source}>"


def resolve_key(source: str, api_key: str | Secret | None, required: bool) -> Secret | None:
    """The explicit key, else the configured one; a clear error when required and missing."""
    if api_key is not None:
        return api_key if isinstance(api_key, Secret) else Secret(api_key)
    key = config.api_key(source)
    if key is None and required:
        names = ", ".join(env_names_for_key(source))
        raise ConfigError(f"no API key for {source!r}: set one of {names}, pass api_key=..., "
                          "or skip_auth=True for a server that needs none")
    return key


def is_dynamic(api_key: object) -> bool:
    return isinstance(api_key, str) and api_key.lower() in DYNAMIC


def key_source(source: str, api_key: ApiKey, *, make: MakeAuth, required: bool, skip_auth: bool = False,
               dynamic_auth: bool = False) -> KeySource:
    """The key source for a module's ``api_key=`` / ``skip_auth=`` / ``dynamic_auth=`` arguments."""
    if dynamic_auth or is_dynamic(api_key):
        if api_key is not None and not is_dynamic(api_key):
            raise ConfigError("dynamic_auth=True reads the key per call from the settings: "
                              "drop api_key=..., or drop dynamic_auth=True to use that key")
        if skip_auth:
            raise ConfigError("skip_auth=True sends no key, dynamic auth reads one per call: pass one of them")
        return SessionKey(source, make, required)
    if isinstance(api_key, (list, tuple)):
        for k in api_key:
            if not isinstance(k, (str, Secret)):
                raise ConfigError(f"api_key=[...] takes str or Secret keys, got a {type(k).__name__}")
        keys = [k if isinstance(k, Secret) else Secret(k) for k in api_key]
        if not keys or not all(keys):
            raise ConfigError("api_key=[...] holds no key (or an empty one): pass at least one non-empty key, "
                              f"or api_key=None to read it from {env_names_for_key(source)[0]}")
        if len(keys) == 1:
            return FixedKey(make(keys[0]), keys[0])
        return KeyPool(keys, make, source)
    if api_key is not None and not isinstance(api_key, (str, Secret)):
        raise ConfigError(f"api_key takes a str, a Secret, a list of them or 'dynamic', got {type(api_key).__name__}")
    if skip_auth and api_key is None:
        return FixedKey(make(None), None)
    key = resolve_key(source, api_key, required)
    return FixedKey(make(key), key)


def bearer(key: Secret | None) -> Auth:
    """The default: ``Authorization: Bearer <key>`` (no header without a key)."""
    h = RedactedHeaders()
    if key:
        h["authorization"] = "Bearer " + key.get()
    return StaticAuth(h)


class KeyedProvider:
    """Mixin of the chat and embedding provider bases: the provider request path (key source,
    request headers, network settings, the key-retry loop) and the model it names.

    A provider overrides :meth:`_make_auth` to put a key on the wire its own way.
    """

    #: the registered source name (``source=`` class keyword): where keys are looked up, errors' provider
    source: ClassVar[str] = ""
    #: the model used when the module names none
    default_model: ClassVar[str | None] = None
    #: False for a provider that answers without a key (a local server)
    key_required: ClassVar[bool] = True
    #: the seed's switch: True sends this provider's calls direct, whatever HTTPS_PROXY says
    #: (LazyLLM's ``proxies={'http': None, 'https': None}``); ``proxy=`` on an instance still wins
    NO_PROXY: ClassVar[bool] = False
    #: the module's network settings (timeouts, retries, proxy, TLS), from its ``HTTPOptions``
    _http: HTTPSettings
    #: the model named at construction (None: the provider's default, or asked for at the first call)
    _model_name: str | None

    def _init_provider(self, api_key: ApiKey, *, skip_auth: bool, dynamic_auth: bool, http: HTTPOptions,
                       source: str | None = None) -> None:
        """The request path's set-up, shared by the provider bases: ``http`` (the constructor's
        ``**http``) checked for misspelt keywords and made the module's settings, then the key
        source for ``api_key`` / ``skip_auth`` / ``dynamic_auth``."""
        if http:
            reject_unknown(type(self).__name__, http, _constructor_keywords(type(self)))
        self._http = http_settings(no_proxy=self.NO_PROXY, **http)
        # The name keys are looked up under: the registered source; a class without one may name
        # its platform (the seed's model_series), else the OpenAI variables are read.
        self._keys = key_source(source or self.source or "openai", api_key, make=self._make_auth,
                                required=self.key_required, skip_auth=skip_auth, dynamic_auth=dynamic_auth)
        # The key itself (the first of a list; None with dynamic auth) for subclasses that build
        # their own headers.
        self._api_key = self._keys.first
        self._static_headers = self._keys.static

    @property
    def model(self) -> str | None:
        return self._model_name

    def _make_auth(self, key: Secret | None) -> Auth:
        """The headers for one key (None: no key), built once per key: Bearer by default."""
        return bearer(key)

    def _auth_headers(self) -> dict[str, str]:
        """The headers of the next request: the key source picks the key (cached per key)."""
        h = self._static_headers
        return h if h is not None else self._keys.headers()

    def _next_key(self, headers: dict[str, str], exc: APIStatusError, *, may_retry: bool) -> dict[str, str]:
        """After a key error (:data:`KEY_ERRORS`) on the request sent with ``headers``: set that key
        aside and return the headers to try once more with, or re-raise ``exc`` when there is no
        other key or the call may not be repeated (``may_retry``: nothing was answered yet and it
        was not retried already). The one key-retry rule of every provider request."""
        if not self._keys.set_aside(headers, exc) or not may_retry:
            raise exc
        return self._auth_headers()

    async def _request_json(self, method: str, url: str, *, model: str | None = None,
                            settings: HTTPSettings | None = None, **kw: Any) -> tuple[Any, Mapping[str, str]]:
        """One JSON request to the provider with this module's key, network settings and error
        typing; a refused key is retried once on the next key of a pool."""
        headers = self._auth_headers()
        retried = False
        while True:
            try:
                data, answer_headers = await request_json(method, url, headers=headers,
                                                          settings=settings or self._http, provider=self.source,
                                                          model=model, **kw)
                return data, answer_headers
            except KEY_ERRORS as exc:
                headers = self._next_key(headers, exc, may_retry=not retried)
                retried = True


def _constructor_keywords(cls: type) -> list[str]:
    """The keyword names ``cls``'s constructors take, the subclass's first (an error's hint list:
    read only when a keyword was not recognised)."""
    names: dict[str, None] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        for p in list(inspect.signature(init).parameters.values())[1:]:
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                names[p.name] = None
    return list(names)
