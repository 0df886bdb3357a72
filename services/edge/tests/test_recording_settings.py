"""Whether a session is recorded: only where the deployment records (EDGE_RECORDING), and then
always unless the operator lets a client decline (EDGE_RECORDING_OPT_OUT) and it did (?record=off)."""

from __future__ import annotations

import pytest
from voice_edge.settings import EdgeSettings


@pytest.mark.parametrize(
    ("recording", "opt_out", "asked", "recorded"),
    [
        (False, False, None, False),
        (False, True, "on", False),
        (True, False, None, True),
        (True, False, "off", True),  # declining is not allowed here
        (True, True, None, True),
        (True, True, "off", False),
        (True, True, "0", False),
        (True, True, "yes", True),
    ],
)
def test_a_session_is_recorded_where_the_deployment_records_unless_it_may_and_does_decline(
    recording: bool, opt_out: bool, asked: str | None, recorded: bool
) -> None:
    settings = EdgeSettings(recording=recording, recording_opt_out=opt_out)
    assert settings.records(asked) is recorded
