"""OKX v5 public perpetual swaps: the spot adapter's ``books`` rule (``seqId`` chain + CRC32 checksum), ``trades``
and ``tickers`` on the same public socket, plus ``funding-rate``, ``mark-price``, ``open-interest`` and
``liquidation-orders``.

``okx:BTC-USDT-PERP`` is OKX's ``BTC-USDT-SWAP`` (``instType=SWAP`` in ``/api/v5/public/instruments``).

**Sizes are in contracts, as OKX sends them**: book levels, trade and ticker sizes, open interest (``oi``) and
liquidation sizes. One contract is ``ctVal`` of the base asset (0.01 BTC for ``BTC-USDT-SWAP``); after
:meth:`OkxSwapAdapter.validate` the adapter's ``contract_values`` maps each symbol to it, so a user who wants base
units multiplies. Keeping the venue's unit keeps the book byte-exact with OKX's checksum, which is defined on the
size strings as sent. ``OpenInterest.value`` is ``oiUsd``.

:class:`~livefeed.derivatives.Funding` combines two channels: each ``mark-price`` push (every 200 ms while the mark
moves) emits the new mark with the last funding rate, each ``funding-rate`` push (every 30-90 s) the new rate with the
last mark. ``fundingRate`` is the rate of the interval that settles at ``fundingTime``, so ``next_funding_ts`` is
``fundingTime``. OKX's public channels give no index price for a swap's ``instId`` (it lives in ``index-tickers``
under the underlying), so ``index_price`` is ``None``. ``liquidation-orders`` is one subscription for all swaps
(``instType: SWAP``); items of unsubscribed instruments are dropped. Its ``side`` is the liquidation order's side.

Funding, open interest and liquidations are always subscribed unless the feed's channels name some of
``funding`` / ``open_interest`` / ``liquidations``, which then choose among them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..connection import Connection
from ..derivatives import FUNDING_FRAMES, Funding, Liquidation, OpenInterest
from ..errors import LivefeedError, UnknownSymbolError
from ..model import Side
from ..naming import Kind, parse_instrument
from .base import MalformedFrame, decode_object
from .bybit_linear import derivative_channels
from .okx import OkxAdapter, subscription_args

__all__ = ["OkxSwapAdapter", "swap_inst_id", "listed_swaps"]

_MS = 1_000_000


def swap_inst_id(symbol: str) -> str:
    """``BTC-USDT-PERP`` -> ``BTC-USDT-SWAP``."""
    return f"{parse_instrument(symbol).pair}-SWAP"


def listed_swaps(body: Mapping[str, Any]) -> dict[str, float | None]:
    """``/api/v5/public/instruments?instType=SWAP`` -> ``{"BTC-USDT-PERP": ctVal}`` of the live swaps."""
    if body.get("code") != "0":
        raise LivefeedError(f"okx: instrument listing failed: code {body.get('code')} {body.get('msg')}")
    listed: dict[str, float | None] = {}
    for item in body["data"]:
        inst = item["instId"]
        if item.get("state", "live") != "live" or not inst.endswith("-SWAP"):
            continue
        listed[f"{inst[: -len('-SWAP')]}-PERP"] = float(item["ctVal"]) if item.get("ctVal") else None
    return listed


class OkxSwapAdapter(OkxAdapter):
    """OKX perpetual swaps: ``Feed(["okx:BTC-USDT-PERP"])``, books in contracts (see the module's note)."""

    source = "okx-swap"
    inst_type = "SWAP"
    frames = FUNDING_FRAMES

    @classmethod
    def normalize_target(cls, text: str) -> str:
        instrument = parse_instrument(text)
        if instrument.kind is not Kind.PERP:
            raise UnknownSymbolError(f"okx-swap serves perpetual swaps ('BTC-USDT-PERP'), not {text!r}")
        return str(instrument)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.derivatives = derivative_channels(self.channels)
        self.contract_values: dict[str, float | None] = dict.fromkeys(self.symbols)
        """Symbol -> base units per contract (``ctVal``), known after :meth:`validate`."""
        self._mark: dict[str, tuple[float, int]] = {}
        self._funding: dict[str, tuple[float, int | None]] = {}

    def inst_id(self, symbol: str) -> str:
        return swap_inst_id(symbol)

    async def listing(self) -> set[str]:
        listed: dict[str, float | None] = await self.list_symbols(
            "/api/v5/public/instruments", listed_swaps, {"instType": "SWAP"}, what="instruments")
        self.contract_values = {s: listed.get(s) for s in self.symbols}
        return set(listed)

    def subscribe_args(self) -> list[dict[str, str]]:
        args = [{**arg, "instId": self.inst_id(arg["instId"])} for arg in subscription_args(self.symbols,
                                                                                            self.channels)]
        wanted = []
        if "funding" in self.derivatives:
            wanted += ["mark-price", "funding-rate"]
        if "open_interest" in self.derivatives:
            wanted.append("open-interest")
        args += [{"channel": channel, "instId": self.inst_id(s)} for s in self.symbols for channel in wanted]
        if "liquidations" in self.derivatives:
            args.append({"channel": "liquidation-orders", "instType": "SWAP"})
        return args

    # -- frames -----------------------------------------------------------------------------------------------
    def on_frame(self, frame: str | bytes, receipt_ns: int, conn: Connection) -> None:
        marker = b'"liquidation-orders"' if isinstance(frame, bytes) else '"liquidation-orders"'
        if marker in frame:  # type: ignore[operator]
            message = decode_object(frame)
            arg = message.get("arg")
            if "event" not in message and isinstance(arg, dict) and arg.get("channel") == "liquidation-orders":
                self._on_liquidations(message.get("data"), receipt_ns)
                return
        super().on_frame(frame, receipt_ns, conn)

    def on_item(self, channel: str, item: dict[str, Any], symbol: str, receipt_ns: int) -> bool:
        ts = int(item["ts"]) * _MS
        if channel == "mark-price":
            self._mark[symbol] = (float(item["markPx"]), ts)
            self._emit_funding(symbol, ts, receipt_ns)
        elif channel == "funding-rate":
            funding_time = item.get("fundingTime")
            self._funding[symbol] = (float(item["fundingRate"]), int(funding_time) * _MS if funding_time else None)
            self._emit_funding(symbol, ts, receipt_ns)
        elif channel == "open-interest":
            usd = item.get("oiUsd")
            self.emit(OpenInterest("okx", symbol, float(item["oi"]), float(usd) if usd else None, ts, receipt_ns))
        else:
            return False
        return True

    def _emit_funding(self, symbol: str, ts: int, receipt_ns: int) -> None:
        mark = self._mark.get(symbol)
        if mark is None:
            return  # a funding rate before any mark: the first mark push emits both
        rate, next_funding = self._funding.get(symbol, (None, None))
        self.emit(Funding("okx", symbol, mark[0], None, rate, next_funding, ts, receipt_ns))

    def _on_liquidations(self, data: object, receipt_ns: int) -> None:
        if not isinstance(data, list):
            raise MalformedFrame("liquidation-orders data is not a list")
        for item in data:
            symbol = self._by_inst.get(item.get("instId", ""))
            if symbol is None:
                continue  # the channel carries every swap; only subscribed ones are wanted
            for detail in item["details"]:
                side = detail["side"]
                if side not in ("buy", "sell"):
                    raise MalformedFrame(f"unknown liquidation side {side!r}")
                self.emit(Liquidation("okx", symbol, Side(side), float(detail["bkPx"]), float(detail["sz"]),
                                      int(detail["ts"]) * _MS, receipt_ns))
