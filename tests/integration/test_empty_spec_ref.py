"""An empty spec reference (an assistant's ``pipeline_name=""``, ``ops.run("")``) is named as
empty, not as the folder "." that ``Path("")`` is."""

from __future__ import annotations

import pytest

from shipyard.api import Operations
from shipyard.errors import ShipyardError


@pytest.mark.parametrize("given", ["", "   "])
def test_an_empty_spec_is_refused_as_empty(ops: Operations, given: str) -> None:
    for call in (ops.run, ops.plan, ops.validate):
        with pytest.raises(ShipyardError, match="the spec argument is empty") as caught:
            call(given)
        assert caught.value.hint is not None and "index:REPO/NAME" in caught.value.hint
    assert ops.list_executions() == []
