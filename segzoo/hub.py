"""Is the network there? A quick reachability probe before any download.

Download clients retry: offline, the Hugging Face hub client behind timm's ``pretrained=True``
waits about 50 s through 20 retry messages before it gives up. segzoo first asks whether
the host answers at all (DNS + TCP connect, bounded by ``timeout`` seconds, in a daemon thread
because name resolution has no timeout of its own) and, when it does not, raises
:class:`~segzoo.errors.OfflineError` at once with the local-file alternative.

``SEGZOO_OFFLINE=1`` (or ``HF_HUB_OFFLINE=1`` for hub downloads) skips the probe and fails
straight away: for air-gapped machines and tests.
"""

from __future__ import annotations

import os
import socket
import threading
from urllib.parse import urlparse

from .errors import BackboneOfflineError, OfflineError

__all__ = ["probe", "ensure_reachable", "PROBE_TIMEOUT"]

PROBE_TIMEOUT = 3.0  # seconds: a reachable host answers well within this


def probe(url: str, *, timeout: float = PROBE_TIMEOUT) -> OSError | None:
    """``None`` when ``url``'s host accepts a TCP connection within ``timeout`` s, else the error why not."""
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        return None
    host = parsed.hostname
    if not host:
        return ConnectionError(f"no host in {url!r}")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    outcome: list[OSError | None] = []

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                outcome.append(None)
        except OSError as err:
            outcome.append(err)

    worker = threading.Thread(target=connect, name="segzoo-probe", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        return TimeoutError(f"no answer from {host} within {timeout:g} s")
    return outcome[0]


def ensure_reachable(url: str, *, what: str, fix: str, cli_fix: str, option: str, backbone: bool = False,
                     offline_env: tuple[str, ...] = ("SEGZOO_OFFLINE",), timeout: float = PROBE_TIMEOUT) -> None:
    """Raise :class:`OfflineError` (``BackboneOfflineError`` for backbone weights) when ``url``'s host is
    unreachable or an ``offline_env`` variable is set; ``what`` names the download in the message."""
    flag = next((name for name in offline_env if os.environ.get(name, "").strip().lower() in ("1", "true", "yes")), None)
    cause = ConnectionError(f"{flag} is set") if flag else probe(url, timeout=timeout)
    if cause is None:
        return
    error = BackboneOfflineError if backbone else OfflineError
    host = urlparse(url).hostname or url
    reason = f"{type(cause).__name__}: {getattr(cause, 'strerror', None) or cause}"
    raise error(f"Can't download {what}: {host} is not reachable ({reason}).", fix=fix, cli_fix=cli_fix,
                option=option) from cause
