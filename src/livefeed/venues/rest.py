"""REST for market venues: listings and book snapshots, with every body size- and time-limited.

A hostile or broken server must not be able to hold a task for ever or fill memory: every body is read in chunks
up to ``max_body`` bytes within ``http_deadline`` seconds, and every body goes to the raw-frame tap so a capture can
replay it. httpx is imported on first use (it loads zstandard and friends; ``import livefeed`` should not).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from ..errors import LivefeedError
from ..redact import redact_text, redact_url
from ..source import SourceOptions, VenueEndpoints

if TYPE_CHECKING:
    import httpx

__all__ = ["RestClient", "RestError", "ResponseTooLargeError", "retry_after"]


class RestError(LivefeedError):
    """A REST request failed: network, HTTP status, a body over the size limit, or a body that is not JSON."""


class ResponseTooLargeError(RestError):
    """A REST body exceeded ``max_body`` bytes; the rest was not read (a broken or hostile server)."""


def retry_after(response: httpx.Response, default: float = 1.0, cap: float = 300.0) -> float:
    """Seconds a rate-limited response asks to wait (``Retry-After`` in seconds), within ``[0, cap]``; ``default``
    when the header is missing or not a number (a broken proxy must not crash the retry loop)."""
    try:
        seconds = float(response.headers.get("Retry-After", default))
    except ValueError:
        return default
    return min(max(seconds, 0.0), cap) if seconds == seconds else default


class RestClient:
    """The REST half of a market adapter (a mixin: it reads the adapter's ``name``, ``endpoints`` and ``options``)."""

    name: str
    endpoints: VenueEndpoints
    options: SourceOptions
    _http: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            import httpx  # lazy: httpx loads zstandard and friends; `import livefeed` should not

            self._http = httpx.AsyncClient(base_url=self.endpoints.rest, timeout=self.options.http_timeout)
        return self._http

    async def rest_get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        """GET ``path`` with the body read up to ``max_body`` bytes (the status is not checked).

        Raises ``httpx.HTTPError`` for network errors, :class:`ResponseTooLargeError` past the limit and
        ``TimeoutError`` past ``http_deadline``. Every body goes to the raw-frame tap, so a capture can replay it.
        """
        import httpx

        limit = self.options.max_body
        async with asyncio.timeout(self.options.http_deadline):
            async with self.http.stream("GET", path, params=params) as response:
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise self._too_large(response, limit, f"declares {int(declared):,} bytes")
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise self._too_large(response, limit, "kept sending")
                    chunks.append(chunk)
        body = b"".join(chunks)
        headers = [(k, v) for k, v in response.headers.multi_items()
                   if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
        done = httpx.Response(response.status_code, headers=headers, content=body, request=response.request)
        tap = self.options.connection.tap
        if tap is not None:
            target = response.request.url.raw_path.decode()
            tap(f"{self.name}:rest {response.status_code} {target}", body, time.time_ns())
        return done

    def _too_large(self, response: httpx.Response, limit: int, how: str) -> ResponseTooLargeError:
        url = redact_url(str(response.request.url))
        return ResponseTooLargeError(
            f"{self.name}: {url} {how} more than the {limit / 2**20:g} MiB allowed for a REST body; stopped reading "
            f"(raise it with venue_options={{{self.name!r}: {{'max_body': bytes}}}} if the venue really sends that)"
        )

    async def list_symbols(self, path: str, parse: Callable[[Any], Any], params: dict[str, Any] | None = None, *,
                           what: str = "symbols") -> Any:
        """``parse(body)`` of the venue's listing at ``path``; a listing of an unexpected shape is a ``RestError``."""
        body = await self.get_listing(path, params, what=what)
        try:
            return parse(body)
        except LivefeedError:
            raise
        except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
            where = redact_url(f"{self.endpoints.rest.rstrip('/')}{path}")
            raise RestError(f"{self.name}: the {what} listing from {where} is not in the venue's format "
                            f"({type(exc).__name__}: {redact_text(str(exc))[:200]})") from None

    async def get_listing(self, path: str, params: dict[str, Any] | None = None, *, what: str = "symbols") -> Any:
        """The venue's JSON listing at ``path``, for :meth:`validate`; any failure is one clear ``RestError``."""
        import httpx

        where = redact_url(f"{self.endpoints.rest.rstrip('/')}{path}")
        hint = f"check the network or point endpoints={{{self.name!r}: ...}} at a simulator"
        try:
            response = await self.rest_get(path, params)
        except ResponseTooLargeError:
            raise
        except (httpx.HTTPError, TimeoutError, OSError) as exc:
            reason = redact_text(str(exc)) or type(exc).__name__
            raise RestError(f"{self.name}: could not list {what} from {where} ({reason}); {hint}") from None
        if response.status_code != 200:
            raise RestError(f"{self.name}: could not list {what} from {where} (HTTP {response.status_code}); {hint}")
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            kind = response.headers.get("content-type", "no content type")
            raise RestError(f"{self.name}: {where} answered HTTP 200 with a body that is not JSON ({kind}, "
                            f"{len(response.content):,} bytes): not the venue's REST API; {hint}") from None

    async def close_http(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
