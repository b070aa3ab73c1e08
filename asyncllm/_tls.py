"""TLS for both connection pools: one ``ssl.SSLContext`` per trust setting, and typed failures.

``HTTPSettings.verify`` says whom to trust:

* ``True`` (the default): the CA bundle named by ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set,
  else certifi's bundle — what httpx and the openai SDK trust, so the aiohttp pool (asyncio)
  and the anyio pool (trio) accept the same servers;
* a path: that CA bundle file (PEM) or a directory of hashed certificates (``c_rehash``);
* an ``ssl.SSLContext``: used as given;
* ``False``: no verification at all (insecure). A warning is logged once per origin.

``HTTPSettings.cert`` is the client certificate for mutual TLS: a PEM file holding the
certificate and its key, ``(certfile, keyfile)`` or ``(certfile, keyfile, password)``.

Contexts are built off the event loop (reading a bundle is blocking file work) and kept per
setting for the life of the process. A handshake that fails leaves as :class:`TLSFailure`,
whose message names the setting that fixes it; ``_http`` turns it into ``TLSError``.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Mapping

import anyio
import httpx

from asyncllm._exceptions import ConfigError

__all__ = ["MTLS_HINT", "CertSpec", "TLSFailure", "Verify", "client_context", "tls_failure", "warn_insecure"]

log = logging.getLogger("asyncllm.http")

Verify = bool | str | ssl.SSLContext
CertSpec = str | tuple[str, str] | tuple[str, str, str]

_CONTEXTS: dict[tuple[object, ...], ssl.SSLContext] = {}
_WARNED: set[str] = set()
# TLS 1.3 lets a server refuse a missing client certificate only after the handshake: the client
# sees the connection close before any answer, with no alert to read. Said where that happens.
MTLS_HINT = ("; if the server requires a client certificate (mutual TLS), pass cert=('client.pem', "
             "'client.key') (HTTPSettings.cert)")
_FIX_TRUST = ("trust its CA with verify='/path/to/ca.pem' (HTTPSettings.verify, or verify= on the module) or "
              "SSL_CERT_FILE / SSL_CERT_DIR; verify=False turns checking off (insecure)")


class TLSFailure(httpx.ConnectError):
    """The TLS handshake failed; the message says which setting fixes it."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # 'certificate' | 'client_certificate' | 'handshake'


def _key(verify: Verify, cert: CertSpec | None, env: Mapping[str, str]) -> tuple[object, ...]:
    return (verify, cert, env.get("SSL_CERT_FILE"), env.get("SSL_CERT_DIR"))


async def client_context(verify: Verify, cert: CertSpec | None) -> ssl.SSLContext:
    """The context for this trust setting (built once, in a worker thread)."""
    if isinstance(verify, ssl.SSLContext):
        if cert is not None:
            raise ConfigError("verify= is an ssl.SSLContext: load the client certificate into it "
                              "(ctx.load_cert_chain(...)) instead of passing cert=")
        return verify
    key = _key(verify, cert, os.environ)
    ctx = _CONTEXTS.get(key)
    if ctx is None:
        ctx = await anyio.to_thread.run_sync(_build, verify, cert)
        _CONTEXTS[key] = ctx
    return ctx


def _build(verify: bool | str, cert: CertSpec | None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if verify is False:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        cafile, capath = _trust(verify)
        try:
            ctx.load_verify_locations(cafile=cafile, capath=capath)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load the CA bundle {cafile or capath!r}: {exc}; pass a PEM file or a "
                              "directory of hashed certificates") from exc
    if cert is not None:
        certfile, keyfile, password = (cert, None, None) if isinstance(cert, str) else (*cert, None)[:3]
        try:
            ctx.load_cert_chain(certfile, keyfile, password)
        except (OSError, ssl.SSLError) as exc:
            # The message names the files, never the password.
            raise ConfigError(f"cannot load the client certificate {certfile!r} (key {keyfile!r}): "
                              f"{type(exc).__name__}; pass cert='both.pem' or cert=('cert.pem', 'key.pem')") from exc
    return ctx


def _trust(verify: bool | str) -> tuple[str | None, str | None]:
    """(cafile, capath) for ``verify``: a path given, else the environment's, else certifi's."""
    if isinstance(verify, str):
        if os.path.isdir(verify):
            return None, verify
        if os.path.isfile(verify):
            return verify, None
        raise ConfigError(f"verify={verify!r}: no such CA bundle file or directory")
    env_file, env_dir = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    if env_file or env_dir:
        cafile = env_file if env_file and os.path.isfile(env_file) else None
        capath = env_dir if env_dir and os.path.isdir(env_dir) else None
        if cafile is None and capath is None:
            raise ConfigError(f"SSL_CERT_FILE={env_file!r} / SSL_CERT_DIR={env_dir!r} name no CA bundle file or "
                              "directory; fix the variable, or pass verify='/path/to/ca.pem'")
        return cafile, capath
    import certifi  # httpx's own dependency

    return certifi.where(), None


def warn_insecure(origin: str) -> None:
    if origin not in _WARNED:
        _WARNED.add(origin)
        log.warning("TLS verification is OFF for %s (verify=False): anyone on the path can read and change "
                    "this traffic; trust the server's CA with verify='/path/to/ca.pem' instead", origin)


def tls_failure(exc: BaseException, host: str) -> TLSFailure | None:
    """A :class:`TLSFailure` naming the fix when ``exc`` is a TLS failure, else None."""
    if isinstance(exc, TLSFailure):
        return exc
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or str(exc)
        return TLSFailure(f"TLS certificate check failed for {host}: {detail}; if it uses a private CA, "
                          f"{_FIX_TRUST}", reason="certificate")
    if isinstance(exc, ssl.SSLError):
        text = str(exc)
        upper = text.upper()
        if "CERTIFICATE_REQUIRED" in upper or ("HANDSHAKE_FAILURE" in upper and "ALERT" in upper):
            return TLSFailure(f"{host} refused the TLS handshake ({exc.reason or text}): it may want a client "
                              "certificate; pass cert=('client.pem', 'client.key') (HTTPSettings.cert)",
                              reason="client_certificate")
        return TLSFailure(f"TLS handshake with {host} failed: {exc.reason or text}", reason="handshake")
    return None
