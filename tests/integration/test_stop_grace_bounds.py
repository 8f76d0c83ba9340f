"""stop(grace=G) takes 0 <= G <= 365 days, as the CLI's --grace duration does: a negative
grace was recorded as given, and a huge one held the caller (an MCP call) waiting for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shipyard.api import Operations
from shipyard.errors import ShipyardError
from tests.conftest import SpecWriter
from tests.integration.test_lifecycle import wait_for


@pytest.mark.parametrize("grace", [-5, -0.1, float("inf"), float("nan"), 1e12, True])
def test_a_grace_outside_its_range_is_refused_and_the_run_goes_on(
    ops: Operations, write_spec: SpecWriter, tmp_path: Path, grace: Any
) -> None:
    spec = write_spec(
        f"name: busy\nsteps:\n  s: {{run: 'touch {tmp_path}/go; sleep 30', shell: true}}\n"
    )
    status = ops.run(spec, detach=True)
    wait_for(lambda: (tmp_path / "go").exists())
    with pytest.raises(ShipyardError, match="grace=") as caught:
        ops.stop(status.id, grace=grace)
    assert caught.value.hint is not None
    assert ops.status(status.id).state.value == "running"
    assert ops.stop(status.id, grace=0).state.value == "cancelled"
