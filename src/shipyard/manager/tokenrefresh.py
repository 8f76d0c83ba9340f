"""A node manager's token refresh (issue 14 §2): when its token expires within a margin
(24 h by default, checked hourly), it asks ``POST /api/v1/managers/refresh-token`` for a new
one of the same lifetime, uses it from then on and, with ``--token-file``, writes it there.

:func:`refresh_due` is the decision (pure, table-tested in tests/unit/test_token_refresh.py);
:func:`token_times` reads the token's own ``iat``/``exp`` (no signature check: it is the
manager's own token, only the coordinator's check counts); :func:`write_token_file` replaces
the file atomically with mode 0600.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from pathlib import Path

#: Refresh when the token expires within this many seconds.
REFRESH_MARGIN = 24 * 3600.0
#: How often the manager looks (seconds).
REFRESH_CHECK = 3600.0


def refresh_due(expires_at: float | None, now: float, margin: float) -> bool:
    """Whether a token expiring at ``expires_at`` (epoch seconds; None: unknown, never
    refreshed) should be refreshed at ``now``. An expired token is refreshed too: the
    coordinator will say 401, which is the clearest report."""
    return expires_at is not None and expires_at - now <= margin


def token_times(token: str) -> tuple[int, int] | None:
    """The token's ``(iat, exp)``, or None when it is not a JWT with both."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
        issued, expires = claims["iat"], claims["exp"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(issued, int) or not isinstance(expires, int):
        return None
    return issued, expires


def write_token_file(path: Path, token: str) -> None:
    """Replace ``path`` with ``token`` atomically (a file beside it, 0600, renamed over it),
    so a manager started later never reads half a token."""
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(token + "\n")
            out.flush()
            os.fsync(out.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
