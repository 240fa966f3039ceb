"""Talking to one Chatwoot installation: session, auth header, retries, pacing, errors.

:class:`Transport` sends one GET at a time on behalf of its callers, from any thread, and owns
everything that is the same for every request: the keep-alive connection pool, the
``api_access_token`` header, the bound on requests in flight, the pace learned from 429s
(:class:`~sla_digest.chatwoot.pacing.RateController`), the retries (exponential backoff, full
jitter) and the translation of final answers into the exceptions of
:mod:`sla_digest.exceptions`. What the requests of one call share (the stop flag, the deadline,
the retry budget, the statistics) is a :class:`~sla_digest.chatwoot.limits.RunState`, and how
hard to try is a :class:`~sla_digest.chatwoot.limits.RetryPolicy`.

Its public surface is what paging uses: :meth:`Transport.new_run`, :meth:`Transport.get`,
:meth:`Transport.start_context`, :attr:`Transport.concurrency`, :attr:`Transport.retry`.

Retries cover connection errors, timeouts, 5xx, 429 and bodies that are not the expected JSON,
within a per-request attempt cap and the run's retry budget. 401 and 404 are final and become
messages a person can act on. The token travels only in the request header: never in a log line,
an error or ``repr``.

A broken or hostile server cannot hang or exhaust a run: bodies are streamed and refused past
:data:`MAX_BODY_BYTES`, a body that contradicts itself is refused at once (both
:class:`~sla_digest.exceptions.ResponseError`, not retried), and every call has a wall-clock
deadline (``max_seconds``) that bounds its timeouts, its waits and the bodies it is reading
(:class:`~sla_digest.exceptions.DeadlineExceeded`).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from sla_digest.chatwoot.limits import RetryPolicy, RunState
from sla_digest.chatwoot.pacing import RateController
from sla_digest.chatwoot.records import (
    CONTEXT_PARSERS,
    AccountContext,
    BadBody,
    RefusedBody,
    clean_text,
)
from sla_digest.exceptions import (
    AuthenticationError,
    ChatwootError,
    ConfigError,
    NotFoundError,
    ResponseError,
    RetryBudgetExhausted,
)

if TYPE_CHECKING:
    import random
    from collections.abc import Callable, Mapping
    from concurrent.futures import Future, ThreadPoolExecutor

    from sla_digest.chatwoot.records import ContextKind, Params

__all__ = [
    "MAX_BODY_BYTES",
    "Endpoint",
    "Transport",
    "collect_context",
    "display_url",
]

logger = logging.getLogger(__name__)

type Endpoint = Literal["reporting_events"] | ContextKind

MAX_BODY_BYTES = 5_000_000
"""The largest body accepted from Chatwoot (5 MB). A page of 25 events is about 10 kB and an
account's agents or inboxes far less than this; anything larger is a broken or hostile server,
refused without being read to its end, and not retried."""
_CHUNK = 64 * 1024  # bytes read at a time, so a body is never taken in whole before it is checked

_TRANSIENT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
_RETRY_STATUSES = frozenset({408, 429})
_NOT_FOUND = "Resource could not be found"
# Chatwoot's 401 texts (chatwoot-api.md) → what the person has to do about each.
_AUTH_HINTS: dict[str, str] = {
    "Invalid Access Token": (
        "Chatwoot at {base} rejected the API access token for account {account} "
        "(Invalid Access Token): check the token"
    ),
    "You are not authorized to do this action": (
        "the token's user is not an administrator of account {account} at {base}: "
        "reporting needs an administrator's access token"
    ),
    "You are not authorized to access this account": (
        "the token's user is not a member of account {account} at {base}: "
        "use the access token of an administrator of that account"
    ),
    "Account is suspended": (
        "account {account} at {base} is suspended: reactivate it in Chatwoot or disable it here"
    ),
    "Access to this endpoint is not authorized for bots": (
        "the token for account {account} at {base} belongs to a bot: reporting needs an "
        "administrator's personal access token"
    ),
}
# Chatwoot's tokens are printable ASCII. Anything else (a byte-order mark, a zero-width space, a
# line break from copy and paste) cannot travel in an HTTP header: refuse it with a message
# instead of a UnicodeEncodeError, or an "invalid header" error that quotes the token.
_TOKEN_SHAPE = re.compile(r"[\x21-\x7e]+")


def display_url(url: str) -> str:
    """The base URL as shown in messages: no credentials, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def collect_context(pending: Mapping[str, Future[bytes | None]], run: RunState) -> AccountContext:
    """The account context from the answers :meth:`Transport.start_context` asked for.

    Waits no longer than the run's deadline for them.
    """
    raw: dict[str, bytes] = {}
    for kind, future in pending.items():
        try:
            body = future.result(timeout=run.remaining())
        except TimeoutError:
            run.check()  # the deadline has passed: raises DeadlineExceeded
            raise
        if body is not None:
            raw[kind] = body
    return AccountContext.from_raw(raw)


def _error_text(body: bytes) -> str | None:
    """The ``error`` string of a Chatwoot JSON error body, if that is what the body is."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    error = doc.get("error") if isinstance(doc, dict) else None
    return error if isinstance(error, str) else None


def _describe(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return "timeout"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "connection dropped mid-body"
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return "undecodable body"
    return "connection error"


class Transport:
    """GET requests to one Chatwoot installation, with its pace, retries and error messages.

    ``concurrency`` bounds the requests in flight; ``max_rate`` caps requests per second;
    ``sleep``, ``clock`` and ``rng`` are seams for tests.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        session: requests.Session | None,
        concurrency: int,
        timeout: float,
        retry: RetryPolicy,
        max_rate: float | None,
        max_seconds: float | None,
        sleep: Callable[[float], object],
        clock: Callable[[], float],
        rng: random.Random,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        if max_seconds is not None and not max_seconds > 0:
            raise ValueError("max_seconds must be a positive number of seconds, or None")
        if not _TOKEN_SHAPE.fullmatch(token):
            raise ConfigError(
                "the Chatwoot access token is empty or has characters no token has (spaces, "
                "line breaks, invisible or non-ASCII characters): copy it again from "
                "Profile settings → Access token"
            )
        self._base = base_url.rstrip("/")
        self.shown = display_url(self._base)
        """The base URL as messages show it (no credentials)."""
        self._headers = {"api_access_token": token, "Accept": "application/json"}
        self._token = token
        self.concurrency = concurrency
        self.retry = retry
        self._timeout = timeout
        self._max_seconds = max_seconds
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self._pacer = RateController(max_rate, clock=clock)
        self._slots = threading.BoundedSemaphore(concurrency)
        self._owns_session = session is None
        self._session = session if session is not None else self._new_session(concurrency)

    def __repr__(self) -> str:
        return f"Transport({self.shown!r}, concurrency={self.concurrency})"

    @staticmethod
    def _new_session(concurrency: int) -> requests.Session:
        session = requests.Session()
        # Retries are ours (they know about budgets and pacing): urllib3's are off.
        adapter = HTTPAdapter(
            pool_connections=1, pool_maxsize=max(concurrency, 4), max_retries=0, pool_block=True
        )
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def close(self) -> None:
        """Close the connection pool, if this transport created it."""
        if self._owns_session:
            self._session.close()

    @property
    def rate(self) -> float | None:
        """The pace currently held, in requests per second (``None``: unpaced)."""
        return self._pacer.rate

    def new_run(self, account_id: int) -> RunState:
        """Shared state for the requests of one call on ``account_id``: the budget of a
        one-page run, and the deadline ``max_seconds`` from now."""
        return RunState(
            budget=self.retry.budget_for(1),
            sleep=self._sleep,
            # The real sleep is replaced by a wait on the stop flag, so that a failed run does
            # not have to wait out its workers' backoff; an injected sleep is used as given.
            interruptible=self._sleep is time.sleep,
            clock=self._clock,
            max_seconds=self._max_seconds,
            where=f"account {account_id} at {self.shown}",
        )

    def start_context(
        self, pool: ThreadPoolExecutor, run: RunState, account_id: int
    ) -> dict[str, Future[bytes | None]]:
        """Ask for the account's inboxes, agents and SLA policies on ``pool``; see
        :func:`collect_context`."""
        return {
            kind: pool.submit(self._get_raw, run, account_id, kind, parse)
            for kind, parse in CONTEXT_PARSERS.items()
        }

    def _get_raw(
        self, run: RunState, account_id: int, kind: ContextKind, parse: Callable[[bytes], object]
    ) -> bytes | None:
        answer = self.get(run, account_id, kind, {}, kind, parse, missing_ok=kind == "sla_policies")
        return None if answer is None else answer[0]

    def get[T](
        self,
        run: RunState,
        account_id: int,
        kind: Endpoint,
        params: Params,
        what: str,
        parse: Callable[[bytes], T],
        *,
        missing_ok: bool = False,
    ) -> tuple[bytes, T] | None:
        """GET one endpoint of the account with retries; ``None`` for a 404 when ``missing_ok``.

        ``parse`` checks a 200's body (raising :class:`~sla_digest.chatwoot.records.BadBody`
        to have it retried); ``what`` names the request in messages.
        """
        url = f"{self._base}/api/v1/accounts/{account_id}/{kind}"
        where = f"account {account_id} at {self.shown}"
        attempt = 0  # failed attempts; a 429 is flow control, not a failure
        while True:
            run.check()
            status: int | None = None
            body = b""
            with self._slots:
                self._wait_for_slot(run)
                started = self._clock()
                try:
                    response = self._session.get(
                        url,
                        params=params,
                        headers=self._headers,
                        timeout=max(0.05, run.within(self._timeout)),
                        allow_redirects=False,
                        stream=True,
                    )
                    body = self._read_body(run, response, what, account_id)
                    status = response.status_code
                except _TRANSIENT as exc:
                    problem = _describe(exc)
                except requests.RequestException as exc:
                    raise ChatwootError(
                        f"cannot send requests to Chatwoot at {self.shown} "
                        f"({type(exc).__name__}): check base_url"
                    ) from exc
            run.count(body=len(body), throttled=status == 429)
            if status == 429:
                self._pacer.throttled()
            elif status is not None:
                self._pacer.accepted(started)
                run.answered_at = self._clock()
            logger.debug("GET %s %s -> %s (%d bytes)", kind, params, status, len(body))
            if status == 200:
                try:
                    return body, parse(body)
                except RefusedBody as exc:
                    raise ResponseError(
                        f"Chatwoot at {self.shown} answered {what} of account {account_id} "
                        f"with a body that contradicts itself: {exc}; no retry can fix that, "
                        "so the run stops (is base_url a Chatwoot server?)",
                        status=200,
                    ) from exc
                except BadBody as exc:
                    problem = f"HTTP 200 but {exc}"
            elif status == 404 and missing_ok:
                return None
            elif status is not None:
                problem = f"HTTP {status}"
                if status < 500 and status not in _RETRY_STATUSES:
                    raise self._final_error(status, body, account_id, kind, response.headers)
            if status == 429:
                # Neither a failed attempt nor a retry of the budget: asked again at once, and
                # the pacer, now slower, decides when it may start. Patience bounds it instead.
                refused = self._clock() - run.answered_at
                if refused > self.retry.throttle_patience:
                    raise RetryBudgetExhausted(
                        f"Chatwoot at {self.shown} answered every request with HTTP 429 (rate "
                        f"limited) for {refused:.0f} s while fetching {what} of account "
                        f"{account_id}: another client may be using this address's allowance; "
                        "try again later"
                    )
                continue
            attempt += 1
            if attempt >= self.retry.max_attempts:
                raise RetryBudgetExhausted(
                    f"{what} of {where} failed {attempt} times in a row (last: {problem}): "
                    "Chatwoot is failing or overloaded, try again later"
                )
            run.spend_retry(problem, what, where)
            logger.debug("retrying %s after %s (attempt %d)", what, problem, attempt)
            run.pause(self.retry.delay(attempt, self._rng))

    def _read_body(
        self, run: RunState, response: requests.Response, what: str, account_id: int
    ) -> bytes:
        """The body, read a chunk at a time: refused past :data:`MAX_BODY_BYTES`, and cut when
        the run ends or its deadline passes (the connection is then closed, not reused)."""
        chunks: list[bytes] = []
        size = 0
        whole = False
        try:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                raise self._too_large(response.status_code, what, account_id)
            with run.reading(response):
                for chunk in response.iter_content(_CHUNK):
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:
                        raise self._too_large(response.status_code, what, account_id)
                    chunks.append(chunk)
                    run.check()
            whole = True
        finally:
            if not whole:
                response.close()
        return b"".join(chunks)

    def _too_large(self, status: int, what: str, account_id: int) -> ResponseError:
        return ResponseError(
            f"Chatwoot at {self.shown} sent more than {MAX_BODY_BYTES / 1e6:g} MB for {what} of "
            f"account {account_id}: no answer of this API is that large, so it was refused "
            "without a retry (is base_url a Chatwoot server?)",
            status=status,
        )

    def _wait_for_slot(self, run: RunState) -> None:
        while (delay := self._pacer.try_acquire()) > 0:
            run.pause(delay)

    def _final_error(
        self,
        status: int,
        body: bytes,
        account_id: int,
        kind: Endpoint,
        headers: Mapping[str, str],
    ) -> ChatwootError:
        base, account = self.shown, account_id
        error = _error_text(body)
        if status == 401:
            hint = _AUTH_HINTS.get(error or "")
            if hint is not None:
                return AuthenticationError(hint.format(base=base, account=account), status=401)
            said = f": {self._clean(error)}" if error else ""
            return AuthenticationError(
                f"Chatwoot at {base} refused the access token for account {account} "
                f"(HTTP 401{said}): check the token and that it is an administrator's",
                status=401,
            )
        if status == 404:
            if error == _NOT_FOUND:
                return NotFoundError(
                    f"account {account} not found at {base}: check the account id and base_url",
                    status=404,
                )
            if kind == "reporting_events":
                return NotFoundError(
                    f"Chatwoot at {base} has no reporting-events API (HTTP 404 for account "
                    f"{account}): it needs Chatwoot 4.8 or newer with the enterprise edition",
                    status=404,
                )
            return NotFoundError(
                f"Chatwoot at {base} has no {kind} endpoint (HTTP 404 for account {account}): "
                "check base_url",
                status=404,
            )
        if 300 <= status < 400:
            location = display_url(headers.get("Location", "")) or "elsewhere"
            return ResponseError(
                f"Chatwoot at {base} redirects to {location}: set base_url to the address "
                "the API answers on",
                status=status,
            )
        return ResponseError(
            f"Chatwoot at {base} answered HTTP {status} to {kind} of account {account}"
            f"{': ' + self._clean(error) if error else ''}",
            status=status,
        )

    def _clean(self, text: str) -> str:
        """Server text fit for a one-line message (and never echoing the token)."""
        line = clean_text(" ".join(text.split())[:200])
        return line.replace(self._token, "[token]") if self._token else line
