"""Keep secrets (URL credentials, API keys in paths and queries, auth headers) out of logs, errors and reprs.

Endpoint URLs may carry ``user:password@``, an API key as a path segment (``/v3/<key>``) or a query parameter
(``?apikey=``). :func:`redact_url` makes one URL safe to show; :func:`redact_text` does it for every URL, query
string and auth header inside free text (exception messages, log lines). :func:`install_log_redaction` applies
:func:`redact_text` to every log record of livefeed and of the libraries it drives (httpx, httpcore, websockets,
web3, aiohttp, redis), which log request URLs and headers at INFO / DEBUG.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["redact_url", "redact_text", "RedactingFilter", "install_log_redaction", "REDACTED_LOGGERS"]

REDACTED_LOGGERS = ("livefeed", "httpx", "httpcore", "websockets", "web3", "aiohttp", "redis", "aiokafka", "asyncio")
"""Logger name prefixes whose records are redacted (children included)."""

_MASK = "…"
_KEY_LENGTH = 20  # a path segment this long is taken for a key (Infura, Alchemy, QuickNode put keys there)
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s'\"<>()\[\]{}]+")
_QUERY_VALUE = re.compile(r"([?&][^\s=&#?'\"]+=)[^\s&#'\"]+")
_AUTH_HEADER = re.compile(
    r"(?im)\b(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api-key|x-auth-token)(\s*[:=]\s*)[^\n]+"
)
_USERINFO = re.compile(r"(?<![\w.-])[\w.%+\-]+:[^\s@/]+@(?=\[|[\w-]+(?:\.[\w-]+)+|[\w.-]+:\d)")
"""``user:password@host`` without a scheme; the host must look like one (dots, a port or ``[``), so stream names
such as ``binance:btcusdt@depth@100ms`` are left alone."""


def redact_url(url: str) -> str:
    """Drop credentials, the query and key-like path segments, so a URL can go to logs, metrics and reprs."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # a malformed URL (e.g. a bad port): show only its scheme
        return url.split(":", 1)[0] + "://" + _MASK if "://" in url else _MASK
    if ":" in host:
        host = f"[{host}]"
    if port:
        host = f"{host}:{port}"
    path = parts.path
    # Node providers put the API key in the last path segment (e.g. /v3/<key>): keep only the first segment.
    segments = [s for s in path.split("/") if s]
    if len(segments) > 1 or any(len(s) >= _KEY_LENGTH for s in segments):
        path = "/" + segments[0] + "/" + _MASK if len(segments[0]) < _KEY_LENGTH else "/" + _MASK
    query = _MASK if parts.query else ""
    return urlunsplit((parts.scheme, host, path, query, ""))


def redact_text(text: str) -> str:
    """``text`` with every URL redacted, every query value and auth header value masked."""
    if not text:
        return text
    text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    text = _USERINFO.sub("", text)
    text = _QUERY_VALUE.sub(lambda m: m.group(1) + _MASK, text)
    return _AUTH_HEADER.sub(lambda m: m.group(1) + m.group(2) + _MASK, text)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (and its traceback text) through :func:`redact_text`; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def redact_record(record: logging.LogRecord) -> None:
    if getattr(record, "_livefeed_redacted", False):
        return
    record._livefeed_redacted = True  # type: ignore[attr-defined]
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: logging reports it itself later
        return
    safe = redact_text(message)
    if safe != message or record.args:
        record.msg, record.args = safe, None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact_text(record.exc_text)
    if record.stack_info:
        record.stack_info = redact_text(record.stack_info)


_installed = False


def install_log_redaction() -> None:
    """Redact every record of the :data:`REDACTED_LOGGERS` (and their children) as it is created.

    A filter on a logger sees only records created on that very logger, not on its children (``websockets.client``,
    ``web3.providers.WebSocketProvider``, ``httpcore.http11`` ...), which are created lazily by the libraries. So the
    filter runs from the log-record factory, for records of those loggers only. Idempotent.
    """
    global _installed
    if _installed:
        return
    _installed = True
    previous = logging.getLogRecordFactory()
    prefixes = tuple(f"{name}." for name in REDACTED_LOGGERS)

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        name = record.name
        if name in REDACTED_LOGGERS or name.startswith(prefixes):
            redact_record(record)
        return record

    logging.setLogRecordFactory(factory)
