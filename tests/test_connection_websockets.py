"""The connection tests again on the fallback transport: an install without the ``[fast]`` extra (no picows)
connects through ``websockets``, with the same keep-alive, watchdog, stats, errors and tap."""

from __future__ import annotations

import pytest

import livefeed.connection

from .test_connection import *  # noqa: F403  (the same tests, collected again in this module)
from .test_connection_send import *  # noqa: F403
from .test_outages import *  # noqa: F403


@pytest.fixture(autouse=True)
def websockets_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(livefeed.connection, "TRANSPORT", "websockets")
