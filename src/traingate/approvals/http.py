"""A small, strict JSON-over-HTTP client for the approval sources (stdlib only).

Strict because a gate must never judge on partial data: every failure (timeout,
HTML login page, endless pagination, exhausted retries) is an :class:`ApiError`,
never a silent truncation or an empty list.
"""

from __future__ import annotations

import email.utils
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from http.client import HTTPException, HTTPMessage
from typing import IO, Any, NoReturn

from traingate.errors import TraingateError

BASE_DELAY = 0.2  # seconds; doubled per retry; override with TRAINGATE_HTTP_BACKOFF
MAX_WAIT = 10.0  # cap on any single wait, including a server's Retry-After
MAX_TOTAL_WAIT = 30.0  # cap on all waits of one request, so a gate run stays bounded
MAX_BYTES = 64 * 1024 * 1024  # a review listing is never this large; refuse, don't OOM
USER_AGENT = "traingate"

# Looked up at call time so tests can replace it (monkeypatch) without sleeping.
_sleep: Callable[[float], None] = time.sleep

HELP = {
    401: "the token is missing or invalid: set GITHUB_TOKEN",
    403: "the token may lack the permission to read this; check its scopes",
    404: "check the repository/project id and that the token can see it",
}
RATE_HELP = "rate limited; retry later"
NOT_JSON_HELP = "the API returned something that is not JSON (a proxy or login page?)"


class ApiError(TraingateError):
    """A platform API call failed; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, *, help: str | None = None, status: int | None = None) -> None:
        super().__init__(message, help=help)
        self.status = status


class _Retry(Exception):
    """Internal: a failure worth retrying; ``wait`` is a server-requested delay."""

    def __init__(self, error: ApiError, wait: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.wait = wait


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _check_url(url: str) -> None:
    scheme, netloc = _origin(url)
    if scheme not in ("http", "https") or not netloc:
        raise ApiError(
            f"refusing to fetch {url!r}: only http(s) URLs are allowed",
            help="check the API URL (GITHUB_API_URL / CI_API_V4_URL)",
        )


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects only within the same scheme+host: urllib would otherwise
    re-send our Authorization/PRIVATE-TOKEN header to whatever host is named."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if _origin(newurl) != _origin(req.full_url):
            raise ApiError(
                f"GET {req.full_url}: refusing a redirect to another host ({newurl})",
                help="point the API URL at the final host; the token is never sent elsewhere",
                status=code,
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _base_delay() -> float:
    raw = os.environ.get("TRAINGATE_HTTP_BACKOFF")
    try:
        return max(0.0, float(raw)) if raw else BASE_DELAY
    except ValueError:
        return BASE_DELAY


def _server_wait(headers: Mapping[str, str]) -> float | None:
    """The delay the server asked for (Retry-After, else a rate-limit reset time)."""
    retry_after = headers.get("retry-after", "").strip()
    if retry_after:
        if retry_after.isdigit():
            return float(retry_after)
        try:
            when = email.utils.parsedate_to_datetime(retry_after).timestamp()
        except (TypeError, ValueError):
            return None
        return max(0.0, when - time.time())
    remaining = headers.get("x-ratelimit-remaining", headers.get("ratelimit-remaining"))
    reset = headers.get("x-ratelimit-reset", headers.get("ratelimit-reset", "")).strip()
    if remaining == "0" and reset.isdigit():
        return max(0.0, int(reset) - time.time())
    return None


def _lower_headers(msg: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for key in set(msg.keys()):
        out[key.lower()] = ", ".join(msg.get_all(key) or ())
    return out


def _api_message(body: bytes) -> str:
    """The API's own error text ({"message": ...} on GitHub and GitLab), shortened."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    msg = (data.get("message") or data.get("error")) if isinstance(data, dict) else None
    if not msg:
        return ""
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", str(msg))
    return f": {text[:200]}"


def _attempt(
    url: str, headers: Mapping[str, str], timeout: float, hints: Mapping[int, str]
) -> tuple[Any, dict[str, str]]:
    req = urllib.request.Request(url, headers=dict(headers), method="GET")
    try:
        # Built per call so the environment's proxies (corporate CI) are read now.
        opener = urllib.request.build_opener(_SameOriginRedirects)
        with opener.open(req, timeout=timeout) as resp:
            status = resp.status
            got = _lower_headers(resp.headers)
            body = resp.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        got = _lower_headers(exc.headers) if exc.headers is not None else {}
        try:
            detail = _api_message(exc.read(64 * 1024))
        except (OSError, ValueError):
            detail = ""
        _raise_status(url, exc.code, got, detail, hints)
    except ApiError:
        raise
    except TimeoutError as exc:
        raise _Retry(_timeout_error(url, timeout)) from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise _Retry(_timeout_error(url, timeout)) from exc
        raise _Retry(
            ApiError(
                f"GET {url}: cannot connect ({exc.reason})",
                help="check the API URL and the network (proxy settings?)",
            )
        ) from exc
    except (OSError, HTTPException, ValueError) as exc:  # resets, truncated bodies, ...
        err = ApiError(f"GET {url}: connection failed ({exc})", help="retry later")
        raise _Retry(err) from exc
    if len(body) > MAX_BYTES:
        raise ApiError(f"GET {url}: response larger than {MAX_BYTES} bytes")
    ctype = got.get("content-type", "")
    try:
        if "html" in ctype.lower():
            raise ValueError(ctype)
        return json.loads(body), got
    except ValueError as exc:
        raise ApiError(
            f"GET {url}: HTTP {status} response is not JSON (content-type {ctype or 'none'})",
            help=NOT_JSON_HELP,
            status=status,
        ) from exc


def _timeout_error(url: str, timeout: float) -> ApiError:
    return ApiError(
        f"GET {url}: timed out after {timeout:g}s",
        help="the API is slow or unreachable; retry later or check the network",
    )


def _raise_status(
    url: str, code: int, headers: Mapping[str, str], detail: str, hints: Mapping[int, str]
) -> NoReturn:
    limited = code == 429 or (
        code == 403
        and (
            headers.get("x-ratelimit-remaining", headers.get("ratelimit-remaining")) == "0"
            or "retry-after" in headers  # GitHub's secondary rate limit
        )
    )
    if limited:
        err = ApiError(
            f"GET {url}: rate limited (HTTP {code}){detail}", help=RATE_HELP, status=code
        )
        raise _Retry(err, _server_wait(headers))
    if code >= 500:
        err = ApiError(
            f"GET {url}: server error HTTP {code}{detail}",
            help="the API is failing; retry later",
            status=code,
        )
        raise _Retry(err, _server_wait(headers))
    raise ApiError(
        f"GET {url}: HTTP {code}{detail}", help=hints.get(code, HELP.get(code)), status=code
    )


def get_json(
    url: str,
    *,
    token_header: tuple[str, str] | None,
    timeout: float = 10.0,
    retries: int = 4,
    headers: Mapping[str, str] | None = None,
    hints: Mapping[int, str] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> tuple[Any, dict[str, str]]:
    """GET ``url`` and decode JSON; returns (data, response headers with lowercase names).

    Retries (up to ``retries`` times, exponential backoff from TRAINGATE_HTTP_BACKOFF or
    0.2s, each wait capped at 10s and all waits at 30s) on 5xx, 429, rate-limited 403,
    timeouts and connection failures; any other 4xx fails at once. ``hints`` overrides
    the error's help text per HTTP status (platform-specific advice).
    """
    _check_url(url)
    send = {"Accept": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
    if token_header is not None:
        send[token_header[0]] = token_header[1]
    nap = sleep if sleep is not None else _sleep
    base, waited = _base_delay(), 0.0
    for attempt in range(retries + 1):
        try:
            return _attempt(url, send, timeout, hints or {})
        except _Retry as retry:
            delay = min(MAX_WAIT, base * 2**attempt)
            if retry.wait is not None:
                delay = min(MAX_WAIT, max(delay, retry.wait))
            if attempt == retries or waited + delay > MAX_TOTAL_WAIT:
                err = retry.error
                raise ApiError(
                    f"{err.message} (gave up after {attempt + 1} attempts)",
                    help=err.help,
                    status=err.status,
                ) from None
            waited += delay
            nap(delay)
    raise AssertionError("unreachable")  # the loop always returns or raises


_LINK = re.compile(r"<([^>]*)>((?:\s*;\s*[^;,]*)*)")


def next_link(header: str) -> str | None:
    """The rel="next" target of an RFC 8288 Link header, if any."""
    for target, params in _LINK.findall(header):
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "rel" and "next" in value.strip().strip('"').split():
                return str(target)
    return None


def _next_url(url: str, headers: Mapping[str, str]) -> str | None:
    link = next_link(headers.get("link", ""))
    if link is not None:
        return urllib.parse.urljoin(url, link)
    page = headers.get("x-next-page", "").strip()  # GitLab, when Link is absent
    if not page:
        return None
    parts = urllib.parse.urlsplit(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "page"]
    query.append(("page", page))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def get_all_pages(
    url: str,
    *,
    token_header: tuple[str, str] | None,
    timeout: float = 10.0,
    retries: int = 4,
    max_pages: int = 100,
    headers: Mapping[str, str] | None = None,
    hints: Mapping[int, str] | None = None,
    sleep: Callable[[float], None] | None = None,
    items_key: str | None = None,
) -> list[Any]:
    """Every item of a paginated JSON list, following Link rel="next" (or X-Next-Page).

    ``items_key`` names the list inside each page's object, for endpoints that
    wrap it (GitHub's ``{"total_count": N, "workflow_runs": [...]}``).
    Fails rather than truncates: a page that is not a list, a next link to another
    host (the token would follow it), or more than ``max_pages`` pages is an ApiError.
    """
    items: list[Any] = []
    current: str | None = url
    for _ in range(max_pages):
        assert current is not None
        data, got = get_json(
            current,
            token_header=token_header,
            timeout=timeout,
            retries=retries,
            headers=headers,
            hints=hints,
            sleep=sleep,
        )
        if items_key is not None:
            data = data.get(items_key) if isinstance(data, dict) else None
        if not isinstance(data, list):
            what = f"a JSON list in {items_key!r}" if items_key else "a JSON list"
            raise ApiError(
                f"GET {current}: expected {what}, got {type(data).__name__}",
                help=NOT_JSON_HELP,
            )
        items.extend(data)
        current = _next_url(current, got)
        if current is None:
            return items
        if _origin(current) != _origin(url):
            raise ApiError(
                f"GET {url}: the next-page link points to another host ({current})",
                help="point the API URL at the host that serves the pages",
            )
    raise ApiError(
        f"GET {url}: still more pages after {max_pages} pages; refusing to truncate",
        help="the API paginates without end (a misbehaving proxy?) or the list is too large",
    )


def send_json(
    method: str,
    url: str,
    body: Any,
    *,
    token_header: tuple[str, str] | None,
    timeout: float = 10.0,
    headers: Mapping[str, str] | None = None,
    hints: Mapping[int, str] | None = None,
) -> Any:
    """One POST/PATCH of a JSON body; the decoded JSON reply (the PR comment of
    issue #19, the only write traingate makes). Never retried: a POST that
    reached the server before the connection failed would be made twice."""
    if method not in ("POST", "PATCH"):
        raise ValueError(f"send_json: unsupported method {method}")
    _check_url(url)
    send = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **(headers or {}),
    }
    if token_header is not None:
        send[token_header[0]] = token_header[1]
    data = json.dumps(body).encode("utf-8")
    req = urllib.request.Request(url, data=data, headers=send, method=method)
    try:
        opener = urllib.request.build_opener(_SameOriginRedirects)
        with opener.open(req, timeout=timeout) as resp:
            raw = resp.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        try:
            detail = _api_message(exc.read(64 * 1024))
        except (OSError, ValueError):
            detail = ""
        raise ApiError(
            f"{method} {url}: HTTP {exc.code}{detail}",
            help=(hints or {}).get(exc.code, HELP.get(exc.code)),
            status=exc.code,
        ) from None
    except ApiError:
        raise
    except (OSError, HTTPException, ValueError) as exc:
        raise ApiError(f"{method} {url}: failed ({exc})", help="retry later") from None
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError:
        raise ApiError(f"{method} {url}: the reply is not JSON", help=NOT_JSON_HELP) from None
