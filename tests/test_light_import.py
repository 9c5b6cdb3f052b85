"""``import livefeed`` (and building a market feed) stays light: no redis, pandas/pyarrow, httpx/zstandard, bokeh,
web3, widgets or Prometheus until something that needs them is used. Each check runs in a fresh interpreter, since
this test session has long since imported everything."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import livefeed

HEAVY = ("redis", "pyarrow", "pandas", "httpx", "zstandard", "bokeh", "web3", "ipywidgets", "anywidget",
         "prometheus_client", "aiokafka", "polars", "duckdb")


def run_fresh(body: str) -> dict[str, object]:
    """Run ``body`` in a new interpreter; it prints one JSON object, which is returned."""
    script = f"import json, sys\nHEAVY = {HEAVY!r}\n" + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_and_market_feed_load_no_heavy_dependency() -> None:
    seen = run_fresh("""
        import livefeed
        after_import = sorted(m for m in HEAVY if m in sys.modules)
        feed = livefeed.Feed(["binance:BTC-USDT"], validate=False)
        after_feed = sorted(m for m in HEAVY if m in sys.modules)
        print(json.dumps({"after_import": after_import, "after_feed": after_feed}))
    """)
    assert seen == {"after_import": [], "after_feed": []}


def test_every_public_name_still_resolves_and_lazy_ones_load_on_use() -> None:
    seen = run_fresh("""
        import livefeed
        from livefeed import from_redis, running
        resolved = {name: getattr(livefeed, name).__module__ for name in livefeed.__all__
                    if hasattr(getattr(livefeed, name), "__module__")}
        print(json.dumps({"resolved": resolved, "redis": "redis" in sys.modules, "in_dir": "from_redis" in dir(livefeed),
                          "from_redis": from_redis.__module__, "running": running.__module__}))
    """)
    assert seen["from_redis"] == "livefeed.reader"
    assert seen["running"] == "livefeed.live"
    assert seen["redis"] is True, "from_redis is the reader's function, which needs redis"
    assert seen["in_dir"] is True
    assert set(seen["resolved"]) == {n for n in livefeed.__all__ if hasattr(getattr(livefeed, n), "__module__")}


def test_unknown_attribute_is_still_an_attribute_error() -> None:
    try:
        livefeed.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("livefeed.no_such_name resolved")


def test_table_methods_import_pandas_when_called() -> None:
    seen = run_fresh("""
        import livefeed
        before = "pandas" in sys.modules
        table = livefeed.running()
        print(json.dumps({"before": before, "after": "pandas" in sys.modules, "columns": list(table.columns)}))
    """)
    assert seen == {"before": False, "after": True, "columns": ["kind", "what", "cell", "id"]}


def test_import_loads_no_simulator_and_a_later_one_is_still_tracked() -> None:
    seen = run_fresh("""
        import livefeed
        sims_at_import = "livefeed.sim" in sys.modules
        from livefeed.sim import BinanceSim
        sim = BinanceSim(symbols=("BTC-USDT",), seed=1)
        from livefeed import live
        print(json.dumps({"sims_at_import": sims_at_import, "tracked": live.objects("sim") == [sim]}))
    """)
    assert seen == {"sims_at_import": False, "tracked": True}
