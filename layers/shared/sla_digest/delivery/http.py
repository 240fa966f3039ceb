"""The one HTTP client of the chat and webhook channels: a POST, https only, never redirected.

An incoming-webhook URL is a credential: whoever holds it can post to the channel. So nothing
here writes one anywhere. Errors name the channel (``what``) and where its URL is kept
(``where``: a secret's or a variable's name), never the URL; the exceptions of ``requests``,
whose text quotes the URL, are described by their type and not chained; and urllib3's debug
lines, which quote the request path, have the paths of our hooks blanked out.

Retryable answers (timeouts, connection errors, 408, 425, 429, 5xx) are tried again with
backoff (a ``Retry-After`` is honoured up to a bound), then raise
:class:`~sla_digest.exceptions.DeliveryUnavailable` so the queue tries the job later; an answer
no retry can change (other 4xx, a redirect, a URL we refuse) raises
:class:`~sla_digest.exceptions.DeliveryRejected`. ``requests`` is imported on first use.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import re
import threading
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sla_digest.exceptions import ConfigError, DeliveryRejected, DeliveryUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import requests

__all__ = [
    "HttpAnswer",
    "HttpPolicy",
    "HttpPoster",
    "check_hook_url",
    "is_loopback",
]

logger = logging.getLogger(__name__)

# Answers a later attempt may get right: timeouts, throttling and the server's own failures.
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
# The hook is gone or never was: revoked, deleted, or the URL is wrong.
REVOKED_STATUS = frozenset({401, 403, 404, 410})
_SAFE_REASON = re.compile(r"[A-Za-z0-9_.:-]{1,60}")
_URLLIB3_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry")
_HIDDEN = "/[hook-path-hidden]"


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    """Timeouts and retries of one POST (seconds); tests shrink the delays."""

    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 8.0
    # A longer Retry-After is not waited out here: the queue's own retry comes later anyway.
    max_retry_after: float = 30.0


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """A final answer in the 2xx range: its status, headers (lower-case names) and body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def reason(self) -> str | None:
        """The body when it is a short code such as Slack's ``invalid_payload``, else ``None``."""
        text = self.body.decode("utf-8", "replace").strip()
        return text if _SAFE_REASON.fullmatch(text) else None


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address: the only hosts plain http may reach."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_hook_url(url: str, *, what: str, where: str) -> str:
    """``url`` if it may be posted to: https (plain http for loopback), no credentials in it.

    The message names ``where`` the URL is kept, never the URL itself.
    """
    problem = _url_problem(url)
    if problem:
        raise ConfigError(f"{what}: the URL in {where} {problem}")
    return url.strip()


def _url_problem(url: Any) -> str | None:
    if not isinstance(url, str) or not url.strip() or any(c.isspace() for c in url.strip()):
        return "is not a URL such as https://hooks.example.com/…"
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return "is not a URL such as https://hooks.example.com/…"
    if parts.scheme not in ("https", "http") or not host:
        return "is not a URL such as https://hooks.example.com/…"
    if parts.username is not None or parts.password is not None:
        return "contains credentials (user:password@); store the hook's own URL only"
    if parts.scheme == "http" and not is_loopback(host):
        return "must use https (plain http only to localhost)"
    return None


class _HideHookPaths(logging.Filter):
    """Blanks the paths of the hooks posted to out of urllib3's log lines (they quote them)."""

    def __init__(self) -> None:
        super().__init__()
        self._paths: set[str] = set()
        self._lock = threading.Lock()

    def watch(self, url: str) -> None:
        parts = urlsplit(url)
        paths = {parts.path + (f"?{parts.query}" if parts.query else ""), parts.path}
        with self._lock:
            self._paths.update(path for path in paths if len(path) > 1)

    def _hide(self, text: str) -> str:
        for path in sorted(self._paths, key=len, reverse=True):
            text = text.replace(path, _HIDDEN)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._paths:
            return True
        if isinstance(record.msg, str):
            record.msg = self._hide(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                self._hide(arg) if isinstance(arg, str) else _hide_repr(self, arg)
                for arg in record.args
            )
        return True


def _hide_repr(guard: _HideHookPaths, value: Any) -> Any:
    """An argument formatted with %r or %s that quotes a path (a Retry, an error) as text."""
    if isinstance(value, int | float | type(None)):
        return value
    text = str(value)
    hidden = guard._hide(text)
    return hidden if hidden != text else value


_GUARD = _HideHookPaths()
_GUARD_INSTALLED = threading.Event()


def _install_guard() -> None:
    if not _GUARD_INSTALLED.is_set():
        for name in _URLLIB3_LOGGERS:
            logging.getLogger(name).addFilter(_GUARD)
        _GUARD_INSTALLED.set()


@dataclass
class HttpPoster:
    """POSTs a body to a hook URL with retries; shared by the Slack, Teams and webhook channels.

    ``session`` is a ``requests.Session`` (one is made on first use); ``sleep`` and ``jitter``
    are seams for tests.
    """

    session: requests.Session | None = None
    policy: HttpPolicy = field(default_factory=HttpPolicy)
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = field(default=lambda: random.uniform(0.5, 1.0))

    def _session(self) -> requests.Session:
        if self.session is None:
            import requests

            self.session = requests.Session()
        return self.session

    def post(
        self, url: str, body: bytes, *, headers: Mapping[str, str], what: str, where: str
    ) -> HttpAnswer:
        """The 2xx answer to ``body``, or a ``DeliveryError`` that never shows the URL."""
        url = check_hook_url(url, what=what, where=where)
        _install_guard()
        _GUARD.watch(url)
        policy = self.policy
        last = ""
        for attempt in range(1, policy.attempts + 1):
            answer, problem, wait = self._attempt(url, body, headers, what=what, where=where)
            if answer is not None:
                return answer
            last = problem
            if attempt == policy.attempts:
                break
            if wait is not None and wait > policy.max_retry_after:
                raise DeliveryUnavailable(
                    f"{what}: {problem}, asking to wait {wait:.0f} s; retryable: the job is "
                    "tried again later"
                )
            delay = wait if wait is not None else self._backoff(attempt)
            logger.info(
                "%s: %s; attempt %d of %d, again in %.1f s",
                what,
                problem,
                attempt,
                policy.attempts,
                delay,
            )
            self.sleep(delay)
        raise DeliveryUnavailable(
            f"{what}: {last} ({policy.attempts} attempts); retryable: the job is tried again later"
        )

    def _backoff(self, attempt: int) -> float:
        policy = self.policy
        delay = min(policy.max_delay, policy.base_delay * 2.0 ** (attempt - 1))
        return float(delay * self.jitter())

    def _attempt(
        self, url: str, body: bytes, headers: Mapping[str, str], *, what: str, where: str
    ) -> tuple[HttpAnswer | None, str, float | None]:
        """One POST: the answer, or why it failed and how long the server asked us to wait.

        Raises for what no retry can change. The requests exception is summarised and dropped
        (its text quotes the URL), so the raise sits outside the ``except`` block: no chain.
        """
        import requests

        policy = self.policy
        failure: str | None = None
        tls = False
        try:
            response = self._session().post(
                url,
                data=body,
                headers={"User-Agent": "sla-digest", **headers},
                timeout=(policy.connect_timeout, policy.read_timeout),
                allow_redirects=False,
            )
        except requests.exceptions.SSLError:
            tls = True
        except requests.exceptions.Timeout as exc:
            return None, f"no answer in time ({type(exc).__name__})", None
        except requests.exceptions.ConnectionError as exc:
            return None, f"could not be reached ({type(exc).__name__})", None
        except requests.exceptions.RequestException as exc:
            failure = type(exc).__name__
        if tls:
            raise DeliveryUnavailable(
                f"{what}: the TLS handshake failed (the certificate is not trusted, or the "
                f"server does not speak TLS): check the URL in {where}; retryable"
            )
        if failure is not None:
            raise DeliveryRejected(f"{what}: the request could not be made ({failure})")
        try:
            status = response.status_code
            content = response.content
            answer_headers = {k.lower(): v for k, v in response.headers.items()}
        finally:
            response.close()
        if 200 <= status < 300:
            return HttpAnswer(status, answer_headers, content), "", None
        reason = HttpAnswer(status, answer_headers, content).reason()
        said = f" ({reason})" if reason else ""
        if status in RETRYABLE_STATUS:
            wait = _retry_after(answer_headers.get("retry-after"))
            return None, f"answered {status}{said}", wait
        raise _refusal(status, said, what=what, where=where)


def _refusal(status: int, said: str, *, what: str, where: str) -> DeliveryRejected:
    """A permanent answer as one line a person can act on."""
    if 300 <= status < 400:
        return DeliveryRejected(
            f"{what}: answered with a redirect ({status}), which is never followed: store the "
            f"hook's final URL in {where}"
        )
    if status == 413:
        return DeliveryRejected(
            f"{what}: the receiver refused the message as too large (413{said}); it must "
            "accept larger bodies, or the digest be delivered by another channel"
        )
    if status in REVOKED_STATUS:
        return DeliveryRejected(
            f"{what}: answered {status}{said}: the hook was revoked or deleted, or the URL is "
            f"wrong; create a new one and store its URL in {where}"
        )
    return DeliveryRejected(f"{what}: refused the message with {status}{said}")


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date); ``None`` if absent."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())
