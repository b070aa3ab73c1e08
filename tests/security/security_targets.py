"""What the security tests serve, importable by path (``security_targets:name``) so that the
subprocess launcher serves the very same objects.

Online modules read their provider URL and key from ``SEC_FAKE_URL`` / ``SEC_KEY`` when first
built, so a subprocess server gets them through its launcher's ``env=``.
"""

from __future__ import annotations

import os
import threading
from typing import Any

PROVIDER_KEY = "sk-server-secret-0123456789"


def echo(*args: Any, **kw: Any) -> dict[str, Any]:
    return {"args": list(args), "kw": kw}


def double(x: Any) -> Any:
    return x * 2


def hog_fds(seconds: float) -> int:
    """Take every free file descriptor of this process for ``seconds`` (then give them back):
    the server's own accept calls fail meanwhile."""
    fds: list[int] = []
    try:
        while True:
            fds.append(os.open(os.devnull, os.O_RDONLY))
    except OSError:
        pass
    def release() -> None:
        for fd in fds:
            os.close(fd)

    threading.Timer(float(seconds), release).start()
    return len(fds)
