from __future__ import annotations

import random

from livefeed.connection import Backoff, redact_url


def test_backoff_grows_is_capped_and_resets() -> None:
    backoff = Backoff(initial=1.0, factor=2.0, cap=8.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(6)]
    bases = [1, 2, 4, 8, 8, 8]
    for delay, base in zip(delays, bases, strict=True):
        assert base / 2 <= delay <= base  # equal jitter: half fixed, half random
    assert len(set(delays)) == len(delays)  # jittered, not lock-step
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_redact_url_hides_keys() -> None:
    assert redact_url("wss://mainnet.infura.io/ws/v3/0123456789abcdef0123456789abcdef") == "wss://mainnet.infura.io/ws/…"
    assert redact_url("wss://user:secret@node.example:8546/?apikey=XYZ") == "wss://node.example:8546/?…"
    assert redact_url("wss://stream.binance.com:9443/stream") == "wss://stream.binance.com:9443/stream"
    assert "secret" not in redact_url("https://eth.example/secretsecretsecretsecret1234")
