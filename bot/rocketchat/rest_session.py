"""The REST session every call goes through: login, `_request` (typed errors, one re-login on a
401, 429s waited out for the time the server announces) and the generic GET/POST helpers.

rocketchat_API builds GET query strings by hand without percent-encoding, so `&`, `#` and `+` in a
value would corrupt the query. Every GET value passes through `q()` first; `requests` leaves the
resulting `%XX` escapes alone.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

import requests
from rocketchat_API.APIExceptions.RocketExceptions import (
    RocketApiException,
    RocketAuthenticationException,
    RocketBadStatusCodeException,
    RocketConnectionException,
    RocketMissingParamException,
)
from rocketchat_API.rocketchat import RocketChat

from bot.chat.errors import (
    AuthenticationFailed,
    ConnectionLost,
    NotAllowed,
    NotFound,
    RateLimited,
    RocketChatError,
    ServerError,
)
from bot.chat.types import (
    User,
)
from bot.rocketchat.wire import (
    WireFormatError,
    to_iso,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

_RESET_MARGIN = 0.05
_WAIT_RE = re.compile(r"wait (\d+(?:\.\d+)?) seconds?", re.IGNORECASE)
_NOT_FOUND_TYPES = {
    "error-room-not-found",
    "error-invalid-room",
    "error-invalid-user",
    "error-message-not-found",
}
_NOT_ALLOWED_TYPES = {"error-not-allowed", "error-action-not-allowed", "error-forbidden"}

# `(prefix, key in *.info answer)` per room type for the type-specific endpoints.
ROOM_API = {"c": "channels", "p": "groups", "d": "dm", "l": "channels"}


def q(value: Any) -> str:
    """A GET value, percent-encoded (the library does not) with JSON-style booleans."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, datetime):
        value = to_iso(value)
    return quote(str(value), safe="")


class RestSession:
    """The connection and the one way every call goes; the endpoint groups build on it.
    Thread-safe: requests' Session is shared, state changes are locked."""

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        user_id: str | None = None,
        token: str | None = None,
        session: requests.Session | None = None,
        timeout: float = 30.0,
        max_attempts: int = 5,
        max_wait: float = 60.0,
        rate_limit_budget: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not ((username and password) or (user_id and token)):
            raise ValueError("RestClient needs username+password or user_id+token")
        self.url = url.rstrip("/")
        self._username = username
        self._password = password
        self._max_attempts = max(1, max_attempts)
        self._max_wait = max_wait
        # Under contention (many workers sharing one limit) a few attempts can all land in
        # full windows; with a budget, 429s keep being waited out until this many seconds
        # were spent waiting, whatever the attempt count. 0 = attempts only.
        self._rate_limit_budget = rate_limit_budget
        self._sleep = sleep
        self._login_lock = threading.Lock()
        self._last = threading.local()
        self.session = session or requests.Session()
        # The library's exceptions carry no headers; remember the last response per thread so
        # a 429 can read `X-RateLimit-Reset`.
        self.session.hooks["response"].append(self._remember_response)
        self.api = RocketChat(
            server_url=self.url,
            session=self.session,
            timeout=timeout,
            auth_token=token,
            user_id=user_id,
        )

    # --- auth -----------------------------------------------------------------------------
    @property
    def user_id(self) -> str | None:
        return self.api.headers.get("X-User-Id")

    @property
    def token(self) -> str | None:
        return self.api.headers.get("X-Auth-Token")

    @property
    def can_relogin(self) -> bool:
        return bool(self._username and self._password)

    def login(self) -> User:
        """Log in (password) or check the token (PAT); returns the logged-in user."""
        if self.can_relogin:
            self._password_login()
        return self.me()

    def _password_login(self) -> None:
        assert self._username and self._password
        with self._login_lock:
            try:
                self.api.login(self._username, self._password)
            except RocketAuthenticationException:
                raise AuthenticationFailed(
                    "REST login refused: incorrect login or password"
                ) from None
            except RocketConnectionException:
                raise ServerError("REST login: unexpected answer from the server") from None
            except requests.RequestException as exc:
                raise ConnectionLost(f"REST login failed: {type(exc).__name__}") from exc

    def _remember_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last.headers = response.headers

    # --- the one way every call goes ------------------------------------------------------
    def _request(self, fn: Callable[[], T], what: str) -> T:
        relogged = False
        attempt = 0
        waited = 0.0
        while True:
            attempt += 1
            self._last.headers = None
            try:
                return fn()
            except RateLimited as exc:  # raised by our own helpers
                error: RocketChatError = exc
            except (RocketApiException, RocketBadStatusCodeException) as exc:
                error = self._map_status(exc, what)
            except RocketMissingParamException as exc:
                raise ServerError(f"{what}: {exc}") from exc
            except requests.RequestException as exc:
                raise ConnectionLost(f"{what}: {type(exc).__name__}") from exc
            except (TypeError, AttributeError, KeyError, IndexError, ValueError) as exc:
                # The library walks the body assuming RC's shape (its pager calls `.get` on
                # whatever came back): an HTML page, an empty or a wrongly typed body ends here.
                raise ServerError(f"{what}: unexpected answer ({type(exc).__name__})") from exc
            if isinstance(error, AuthenticationFailed) and self.can_relogin and not relogged:
                relogged = True
                log.info("rest: %s got 401, logging in again", what)
                self._password_login()
                continue
            if isinstance(error, RateLimited) and (
                attempt < self._max_attempts
                or waited + error.retry_after <= self._rate_limit_budget
            ):
                log.info("rest: %s rate limited, retrying in %.2fs", what, error.retry_after)
                self._sleep(error.retry_after)
                waited += error.retry_after
                continue
            raise error

    def _map_status(
        self, exc: RocketApiException | RocketBadStatusCodeException, what: str
    ) -> RocketChatError:
        status = exc.status_code
        body = exc.response_json if isinstance(exc.response_json, dict) else {}
        text = body.get("error") if isinstance(body.get("error"), str) else None
        error_type = body.get("errorType") if isinstance(body.get("errorType"), str) else None
        reason = f"{what}: {text or f'HTTP {status}'}"
        kw: dict[str, Any] = {"error": error_type or status, "details": body.get("details")}
        if (
            status == 429
            or error_type in {"too-many-requests", "error-too-many-requests"}
            or (text and "[error-too-many-requests]" in text)
        ):
            return RateLimited(reason, retry_after=self._retry_after(text), **kw)
        if status == 401:
            return AuthenticationFailed(reason, **kw)
        if status == 403 or error_type in _NOT_ALLOWED_TYPES:
            return NotAllowed(reason, **kw)
        if status == 404 or error_type in _NOT_FOUND_TYPES:
            return NotFound(reason, **kw)
        return ServerError(reason, **kw)

    def _retry_after(self, text: str | None) -> float:
        headers = getattr(self._last, "headers", None)
        reset = headers.get("X-RateLimit-Reset") if headers is not None else None
        wait: float | None = None
        if reset:
            try:
                wait = float(reset) / 1000 - time.time()
            except ValueError:
                wait = None
        # A reset already past (clock skew) says nothing; the body's "wait N seconds" may.
        if (wait is None or wait <= 0) and text:
            match = _WAIT_RE.search(text)
            if match:
                wait = float(match.group(1))
        if wait is None:
            wait = 1.0
        # A little margin: waking exactly at the reset can land in the old window again.
        return min(max(wait, 0.0) + _RESET_MARGIN, self._max_wait)

    # --- generic helpers (endpoints the library lacks) ------------------------------------
    def get(self, method: str, **params: Any) -> dict[str, Any]:
        encoded = {k: q(v) for k, v in params.items() if v is not None}
        return self._dict(self._request(lambda: self.api.call_api_get(method, **encoded), method))

    def post(self, method: str, **body: Any) -> dict[str, Any]:
        return self._dict(self._request(lambda: self.api.call_api_post(method, **body), method))

    @staticmethod
    def _dict(answer: Any) -> dict[str, Any]:
        if not isinstance(answer, dict):
            raise ServerError("the server answered with something that is not JSON")
        return answer

    def _paged(self, what: str, fn: Callable[..., Iterable[Any]], **kwargs: Any) -> list[Any]:
        """Drain one of the library's paginated generators; errors mid-way are mapped too."""
        return self._request(lambda: list(fn(**kwargs)), what)


def parse_one(parse: Callable[[Any], T], data: Any, what: str) -> T:
    try:
        return parse(data)
    except WireFormatError as exc:
        raise ServerError(f"{what}: unusable answer ({exc})") from exc


def parse_all(parse: Callable[[Any], T], items: Iterable[Any]) -> list[T]:
    parsed = []
    for item in items:
        try:
            parsed.append(parse(item))
        except WireFormatError as exc:
            log.warning("rest: dropping an unusable item: %s", exc)
    return parsed
