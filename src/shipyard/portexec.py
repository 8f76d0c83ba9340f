"""``python -m shipyard.portexec WORD...``: run WORD... with ``{port}`` replaced by ``$PORT``.

An agent's start command may need the port Shipyard gives it on its command line (ATOLL's
``--port {port}``). An automatic port is chosen only when the agent starts, after its command
was written, so the command is started through this module: it fills the placeholder from the
environment Shipyard gives every service and execs the command in its own place (the same pid,
so signals, health and logs are the agent's). No shell: the words are argv as they are, with
``{lb}`` and ``{rb}`` (or ``{{`` and ``}}``) standing for literal braces.
"""

from __future__ import annotations

import os
import sys


def main(words: list[str]) -> int:
    port = os.environ.get("PORT")
    if not words:
        sys.stderr.write("shipyard.portexec: no command to run\n")
        return 2
    if not port:
        sys.stderr.write("shipyard.portexec: $PORT is not set: the service has no port\n")
        return 2
    # {lb} and {rb} are literal braces (``{{`` would be a spec's parameter reference);
    # ``{{`` and ``}}`` still are too, as str.format reads them.
    argv = [word.format(port=port, lb="{", rb="}") for word in words]
    try:
        os.execvp(argv[0], argv)  # noqa: S606 - argv as given, no shell
    except OSError as error:
        sys.stderr.write(f"shipyard.portexec: cannot start {argv[0]!r}: {error.strerror}\n")
        return 127
    return 0  # not reached: execvp replaced this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
