"""`shipyard agents deploy DIR --command '... {{x}} {port}'` through the installed command: the
help says ``{{`` and ``}}`` are literal braces, and with an automatic port (filled in by
``shipyard.portexec`` when the agent starts) the agent's argv gets ``{x}`` — the escaped brace
must not reach the spec's own ``{{ name }}`` templating ("'{{ x }}' is not a parameter")."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from tests.acceptance.conftest import Shipyard

#: An agent that says its argv (in its folder) and then listens on the port it was given.
ECHO = """\
import json, socket, sys
from pathlib import Path

Path("argv.json").write_text(json.dumps(sys.argv[1:]))
with socket.create_server(("127.0.0.1", int(sys.argv[-1]))) as server:
    while True:
        server.accept()[0].close()
"""


def test_a_literal_brace_reaches_the_agent_with_an_automatic_port(
    shipyard: Shipyard, tmp_path: Path
) -> None:
    agent = tmp_path / "fleet" / "echo"
    agent.mkdir(parents=True)
    (agent / "agent.toml").write_text('[agent]\nname = "echo"\n', encoding="utf-8")
    (agent / "echo.py").write_text(ECHO, encoding="utf-8")
    command = f"{sys.executable} echo.py {{{{x}}}} a{{{{b}}}}c {{port}}"

    shown = shipyard("agents", "discover", str(agent.parent), "--command", command)
    assert shown.returncode == 0, shown.stderr
    assert "{x}" in shown.stdout, shown.stdout
    done = shipyard("agents", "deploy", str(agent.parent), "--command", command)
    try:
        assert done.returncode == 0, f"deploy failed:\n{done.stdout}\n{done.stderr}"
        said = agent / "argv.json"
        deadline = time.monotonic() + 60
        while not said.exists() or not said.read_text():
            assert time.monotonic() < deadline, "the agent did not start within 60 s"
            time.sleep(0.2)
        argv = json.loads(said.read_text())
        assert argv[:2] == ["{x}", "a{b}c"], f"the agent's argv: {argv}"
        assert argv[2].isdigit(), f"the port was not filled in: {argv}"
    finally:
        shipyard("agents", "undeploy", str(agent.parent))
