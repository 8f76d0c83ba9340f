"""logs(tail=N) takes N >= 1 or None (every line): 0 returned every line and a negative N
ended in a ValueError from deque (an MCP call's internal error)."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.api import Operations
from shipyard.errors import ShipyardError
from tests.conftest import SpecWriter


@pytest.mark.parametrize("tail", [0, -1, -5, True])
@pytest.mark.parametrize(
    "how",
    [{}, {"merge": True, "annotate": True}, {"since": "1h"}, {"grep": "x"}],
)
def test_a_tail_below_one_is_refused(
    ops: Operations, write_spec: SpecWriter, tail: Any, how: dict[str, Any]
) -> None:
    ran = ops.run(write_spec("name: t\nsteps:\n  a: {run: [echo, hi]}\n"))
    with pytest.raises(ShipyardError, match="is not a number of lines") as caught:
        list(ops.logs(ran.id, tail=tail, **how))
    assert caught.value.hint is not None and "leave it out" in caught.value.hint
    expected = [] if "grep" in how else ["hi"]  # 'x' matches nothing
    assert [line.text for line in ops.logs(ran.id, tail=1, **how)] == expected
