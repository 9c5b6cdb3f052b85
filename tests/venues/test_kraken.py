"""Kraken v2 parsing and the checksum rule, on literal messages from Kraken's documentation
(docs.kraken.com spot-websocket-v2 book / trade / ticker pages and the "Book checksum (WebSocket v2)" guide)."""

from __future__ import annotations

import zlib

import orjson
import pytest

from livefeed.book import OrderBook
from livefeed.errors import UnknownSymbolError
from livefeed.model import BookDelta, BookSnapshot, Side
from livefeed.sim.kraken import KrakenSim
from livefeed.venues.base import VenueEndpoints
from livefeed.venues.book_sync import Verdict
from livefeed.venues.kraken import (
    BookIntegrity,
    KrakenAdapter,
    MalformedFrame,
    book_checksum,
    canonical_symbol,
    checksum_string,
    checksum_v1,
    listed_symbols,
    parse_book,
    parse_ticker,
    parse_ticker_v1,
    parse_timestamp,
    parse_trade_v1,
    parse_trades,
    truncate,
    venue_symbol,
)

from .rules import drive

DOC_SNAPSHOT = '{"channel":"book","type":"snapshot","data":[{"symbol":"MATIC/USD","bids":[{"price":0.5666,"qty":4831.75496356},{"price":0.5665,"qty":6658.22734739},{"price":0.5664,"qty":18724.91513344},{"price":0.5663,"qty":11563.92544914},{"price":0.5662,"qty":14006.65365711},{"price":0.5661,"qty":17454.85679807},{"price":0.566,"qty":18097.1547},{"price":0.5659,"qty":33644.89175666},{"price":0.5658,"qty":148.3464},{"price":0.5657,"qty":606.70854372}],"asks":[{"price":0.5668,"qty":4410.79769741},{"price":0.5669,"qty":4655.40412487},{"price":0.567,"qty":49844.89424998},{"price":0.5671,"qty":24306.41678},{"price":0.5672,"qty":29783.25223475},{"price":0.5673,"qty":57234.71239278},{"price":0.5674,"qty":45065.04744},{"price":0.5675,"qty":5912.76380354},{"price":0.5676,"qty":42514.92434778},{"price":0.5677,"qty":36304.0847022}],"checksum":2439117997,"timestamp":"2023-10-06T17:35:55.440295Z"}]}'
DOC_UPDATE = '{"channel":"book","type":"update","data":[{"symbol":"MATIC/USD","bids":[{"price":0.5657,"qty":1098.3947558}],"asks":[],"checksum":2114181697,"timestamp":"2023-10-06T17:35:55.440295Z"}]}'
DOC_TRADE = '{"channel":"trade","type":"update","data":[{"symbol":"MATIC/USD","side":"sell","price":0.5117,"qty":40.0,"ord_type":"market","trade_id":4665906,"timestamp":"2023-09-25T07:49:37.708706Z"}]}'
DOC_TICKER = '{"channel":"ticker","type":"snapshot","data":[{"symbol":"ALGO/USD","bid":0.10025,"bid_qty":740.0,"ask":0.10036,"ask_qty":1361.44813783,"last":0.10035,"volume":997038.98383185,"vwap":0.10148,"low":0.09979,"high":0.10285,"change":-0.00017,"change_pct":-0.17,"timestamp":"2023-09-25T09:04:31.742648Z"}]}'
MATIC = {"MATIC/USD": "MATIC-USD", "ALGO/USD": "ALGO-USD"}
MATIC_PRECISION = (4, 8)  # price_precision, qty_precision of MATIC/USD


def doc_book() -> tuple[OrderBook, BookIntegrity, tuple[BookSnapshot, int]]:
    (snapshot, crc), = parse_book(orjson.loads(DOC_SNAPSHOT), MATIC, 1)
    return OrderBook("kraken", "MATIC-USD"), BookIntegrity(10, MATIC_PRECISION), (snapshot, crc)  # type: ignore[return-value]


def test_symbols_map_both_ways() -> None:
    assert venue_symbol("BTC-USD") == "BTC/USD"
    assert canonical_symbol("BTC/USD") == "BTC-USD"
    assert canonical_symbol("XBT/USD") == "BTC-USD"  # REST wsname and v1 keep the old spelling
    assert canonical_symbol("XDG/EUR") == "DOGE-EUR"


def test_timestamps_are_exact_nanoseconds() -> None:
    assert parse_timestamp("2023-10-06T17:35:55.440295Z") == 1_696_613_755_440_295_000


def test_doc_snapshot_parses_best_first() -> None:
    (snapshot, crc), = parse_book(orjson.loads(DOC_SNAPSHOT), MATIC, 123)
    assert isinstance(snapshot, BookSnapshot)
    assert crc == 2439117997
    assert snapshot.bids[0] == (0.5666, 4831.75496356) and snapshot.asks[0] == (0.5668, 4410.79769741)
    assert len(snapshot.bids) == len(snapshot.asks) == 10
    assert snapshot.exchange_ts == 1_696_613_755_440_295_000 and snapshot.receipt_ts == 123


def test_doc_checksums_match_at_the_instrument_precision() -> None:
    book, rule, (snapshot, crc) = doc_book()
    assert drive(rule, book, snapshot, crc) is Verdict.APPLY
    assert rule.expected(book) == 2439117997
    (update, crc2), = parse_book(orjson.loads(DOC_UPDATE), MATIC, 2)
    assert isinstance(update, BookDelta)
    assert drive(rule, book, update, crc2) is Verdict.APPLY
    assert rule.expected(book) == 2114181697
    assert book.bids()[-1] == (0.5657, 1098.3947558)


def test_checksum_needs_the_fixed_precision_not_the_shortest_repr() -> None:
    _, _, (snapshot, _) = doc_book()
    assert book_checksum(snapshot.asks, snapshot.bids, *MATIC_PRECISION) == 2439117997
    shortest = "".join(f"{p}{q}".replace(".", "").lstrip("0") for p, q in [*snapshot.asks, *snapshot.bids])
    assert zlib.crc32(shortest.encode()) == 3830085102  # what a client that skips the precision computes
    text = checksum_string(snapshot.asks, snapshot.bids, *MATIC_PRECISION)
    assert text.startswith("5668441079769741")  # "0.5668" -> "5668", "4410.79769741" -> "441079769741"


def test_guide_formatting_example() -> None:
    # The guide: price "45285.2" -> "452852", qty "0.00100000" -> "100000".
    assert checksum_string([(45285.2, 0.001)], [], 1, 8) == "452852100000"


def test_a_wrong_checksum_unsyncs_until_the_next_snapshot() -> None:
    book, rule, (snapshot, crc) = doc_book()
    drive(rule, book, snapshot, crc)
    (update, crc2), = parse_book(orjson.loads(DOC_UPDATE), MATIC, 2)
    assert drive(rule, book, update, crc2 ^ 1) is Verdict.CHECKSUM_FAIL
    assert not rule.synced
    assert drive(rule, book, update, crc2) is Verdict.STALE  # refused while the book is rebuilt
    assert drive(rule, book, snapshot, crc) is Verdict.APPLY and rule.synced


def test_a_corrupt_snapshot_is_detected_too() -> None:
    book, rule, (snapshot, crc) = doc_book()
    assert drive(rule, book, snapshot, crc + 1) is Verdict.CHECKSUM_FAIL


def test_updates_before_any_snapshot_wait() -> None:
    (update, crc), = parse_book(orjson.loads(DOC_UPDATE), MATIC, 2)
    assert drive(BookIntegrity(10, MATIC_PRECISION), OrderBook(), update, crc) is Verdict.STALE


def test_unknown_precision_applies_without_checking() -> None:
    book, _, (snapshot, crc) = doc_book()
    rule = BookIntegrity(10, None)
    assert drive(rule, book, snapshot, crc + 1) is Verdict.APPLY and rule.checked == 0


def test_an_insert_pushes_the_worst_level_out_of_a_depth_10_book() -> None:
    book, rule, (snapshot, crc) = doc_book()
    drive(rule, book, snapshot, crc)
    inserted = BookDelta("kraken", "MATIC-USD", [(0.5667, 1.0)], [], None, 3)
    drive(rule, book, inserted, None)
    assert book.bid_count == 10
    assert book.bids()[0] == (0.5667, 1.0) and 0.5657 not in book.to_dict()["bids"]


def test_truncate_keeps_the_best_levels() -> None:
    book = OrderBook()
    book.apply_snapshot([(float(p), 1.0) for p in range(1, 31)], [(float(p), 1.0) for p in range(31, 61)])
    truncate(book, 25)
    assert book.bids()[-1][0] == 6.0 and book.asks()[-1][0] == 55.0 and len(book) == 50


def test_depth_must_be_one_kraken_offers() -> None:
    with pytest.raises(ValueError, match="depth"):
        BookIntegrity(15)


def test_doc_trade_side_is_the_taker_side() -> None:
    (trade,) = parse_trades(orjson.loads(DOC_TRADE), MATIC, 9)
    assert trade.side is Side.SELL
    assert (trade.price, trade.size, trade.trade_id, trade.sequence) == (0.5117, 40.0, "4665906", 4665906)
    assert trade.exchange_ts == 1_695_628_177_708_706_000


def test_doc_ticker() -> None:
    (ticker,) = parse_ticker(orjson.loads(DOC_TICKER), MATIC, 9)
    assert (ticker.bid_price, ticker.bid_size, ticker.ask_price, ticker.ask_size) == (0.10025, 740.0, 0.10036,
                                                                                      1361.44813783)
    assert ticker.extra["last"] == 0.10035 and ticker.extra["change_pct"] == -0.17


def test_data_for_an_unsubscribed_symbol_is_malformed() -> None:
    with pytest.raises(MalformedFrame):
        parse_trades(orjson.loads(DOC_TRADE), {"BTC/USD": "BTC-USD"}, 1)


def test_v1_trade_and_ticker_from_the_notes() -> None:
    trade_frame = orjson.loads('[993,[["354.11000000","0.89594024","1618678142.557535","s","l",""]],"trade","XMR/USD"]')
    (trade,) = parse_trade_v1(trade_frame, 1)
    assert (trade.symbol, trade.price, trade.size, trade.side) == ("XMR-USD", 354.11, 0.89594024, Side.SELL)
    assert trade.exchange_ts == 1_618_678_142_557_535_000
    ticker_frame = orjson.loads('[1668,{"a":["13.253900",35,"35.72892241"],"b":["13.232900",185,"185.18432037"],"c":["13.253900","3.71672000"],"v":["26560.85364463","72035.05488104"],"p":["13.529003","13.734728"],"t":[640,1353],"l":["13.021800","13.021800"],"h":["13.942000","14.211200"],"o":["13.804000","13.428300"]},"ticker","WAVES/EUR"]')
    ticker = parse_ticker_v1(ticker_frame, 1)
    assert (ticker.symbol, ticker.bid_price, ticker.bid_size, ticker.ask_price) == ("WAVES-EUR", 13.2329,
                                                                                    185.18432037, 13.2539)


def test_asset_pairs_listing_uses_wsname() -> None:
    body = {"error": [], "result": {"XXBTZUSD": {"altname": "XBTUSD", "wsname": "XBT/USD", "base": "XXBT",
                                                 "quote": "ZUSD", "pair_decimals": 1, "lot_decimals": 8,
                                                 "status": "online"},
                                    "XETHZUSD.d": {"altname": "ETHUSD.d", "base": "XETH", "quote": "ZUSD",
                                                   "pair_decimals": 2, "lot_decimals": 8}}}
    assert listed_symbols(body) == {"BTC-USD": (1, 8)}


async def test_validate_names_close_matches() -> None:
    async with KrakenSim(symbols=("BTC-USD", "ETH-USD"), autostep=False) as sim:
        good = KrakenAdapter(["BTC-USD"], ["book"], lambda e: None, endpoints=_endpoints(sim))
        await good.validate()
        assert good.integrity["BTC-USD"].precision == (1, 8)
        await good.close()
        bad = KrakenAdapter(["BTC-USDX"], ["book"], lambda e: None, endpoints=_endpoints(sim))
        with pytest.raises(UnknownSymbolError, match="BTC-USD"):
            await bad.validate()
        await bad.close()


def _endpoints(sim: KrakenSim) -> VenueEndpoints:
    return VenueEndpoints(ws=sim.ws_url, rest=sim.rest_url)


def test_default_endpoints_are_the_real_exchange() -> None:
    assert KrakenAdapter.default_endpoints.ws == "wss://ws.kraken.com/v2"
    assert KrakenAdapter.default_endpoints.rest == "https://api.kraken.com"


def test_v1_checksum_over_fixed_decimal_strings_matches_the_v2_example() -> None:
    # v1 hashes the received strings, which carry the pair's fixed decimals: the same digits as v2's formatting.
    _, _, (snapshot, crc) = doc_book()
    asks = [(f"{p:.4f}", f"{q:.8f}") for p, q in snapshot.asks]
    bids = [(f"{p:.4f}", f"{q:.8f}") for p, q in snapshot.bids]
    assert checksum_v1(asks, bids) == crc == 2439117997
