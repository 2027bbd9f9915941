"""Reading what a request carries, for every route: a JSON body, a form, an id in the path, a
whole number in the query. Anything malformed is an ApiError 4xx naming what is wrong, never an
exception that becomes a 500.

A JSON body must be UTF-8, at most MAX_DEPTH arrays/objects deep, with integers of at most
40 digits (watchd.jsonbody), no `NaN`/`Infinity` (not JSON, though Python's parser takes them), no
lone surrogates (`"\\ud800"` is valid JSON but not text any store or page can hold) and no NUL
characters (PostgreSQL text cannot hold them); form fields are held to the same text rules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler
from aiohttp.web_protocol import RequestPayloadError
from multidict import MultiDictProxy
from pydantic import BaseModel, ConfigDict, ValidationError

from watchd import jsonbody
from watchd.api.errors import ApiError

T = TypeVar("T")

MAX_DEPTH = 64
MAX_ID = 2**63 - 1  # the largest id a database column holds (SQLite and PostgreSQL BIGINT)
# What aiohttp decodes itself (brotli only with the optional Brotli package: not relied upon).
_ENCODINGS = frozenset({"identity", "gzip", "x-gzip", "deflate"})


async def read_body(request: web.Request) -> bytes:
    """The raw body; 413 over the app's size limit, 415 for a Content-Encoding aiohttp does not
    decode, 400 when the body does not decode."""
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in _ENCODINGS:
        raise ApiError(
            415,
            f"The Content-Encoding {encoding!r} is not supported; send the body as "
            f"{', '.join(sorted(_ENCODINGS))}.",
        )
    try:
        return await request.read()
    except (RequestPayloadError, HttpProcessingError) as exc:
        raise ApiError(400, f"The request body could not be read: {_encoding(request)}.") from exc


def _encoding(request: web.Request) -> str:
    encoding = request.headers.get("Content-Encoding")
    if encoding:
        return f"it is not valid {encoding!r} data (Content-Encoding)"
    return "the connection sent a malformed body"


def parse_json(body: bytes | str) -> Any:
    """Parse a request body as JSON for the API: ApiError 400 naming what is wrong."""
    try:
        data = jsonbody.loads(body)
    except jsonbody.JsonInputError as exc:
        raise ApiError(400, f"The request body is not valid JSON: {exc.reason}.") from None
    check_text(data)
    return data


def _too_deep() -> str:
    return f"The request body is nested more than {MAX_DEPTH} arrays or objects deep."


def check_text(data: Any) -> None:
    """ApiError 400 when `data` (parsed JSON) is nested deeper than MAX_DEPTH or holds a string
    no store can hold (a lone surrogate, a NUL), naming where: `alerts[0].labels.item`."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, str):
            _check_string(value, where or "the body")
            continue
        if isinstance(value, dict | list) and depth >= MAX_DEPTH:
            raise ApiError(400, _too_deep())
        if isinstance(value, dict):
            for key, item in value.items():
                path = f"{where}.{key}" if where else str(key)
                _check_string(key, f"a key in {where or 'the body'}")
                stack.append((item, path, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value))


def _check_string(value: str, where: str, kind: str = "Field") -> None:
    if "\x00" in value:
        # PostgreSQL text cannot hold it, nor compare with it: the query would fail as if the
        # store were down.
        raise ApiError(
            400,
            f"{kind} '{_printable(where)}': the text has a NUL character (\\u0000 at character "
            f"{value.index(chr(0))}), which cannot be stored or searched for.",
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ApiError(
            400,
            f"{kind} '{_printable(where)}': the text has a lone surrogate "
            f"({value[exc.start]!r} at character {exc.start}), which is not valid Unicode; "
            "send the character itself or its surrogate pair.",
        ) from None


def _printable(where: str) -> str:
    return where.encode("utf-8", "backslashreplace").decode("utf-8")


@web.middleware
async def url_text(request: web.Request, handler: Handler) -> web.StreamResponse:
    """400 for a NUL (or lone surrogate) in the path's parameters or the query string, which
    would otherwise reach the store: on PostgreSQL a failure that looks like an outage."""
    for name, value in request.match_info.items():
        _check_string(value, name, "The path part")
    for name, value in request.query.items():
        _check_string(name, name, "The query parameter")
        _check_string(value, name, "The query parameter")
    return await handler(request)


async def json_body(request: web.Request, *, empty: Any = None) -> Any:
    """The request's body parsed as JSON (see parse_json); `empty` when there is none."""
    body = await read_body(request)
    if not body.strip():
        if empty is not None:
            return empty
        raise ApiError(400, "The request body is empty; expected JSON.")
    return parse_json(body)


class StrictBody(BaseModel):
    """Base of a JSON body model: unknown fields are a 400, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


async def model_body(request: web.Request, model: type[Any]) -> Any:
    """The request's JSON body validated as `model` (an empty body is `{}`); a 400 naming the
    first field at fault."""
    raw = await json_body(request, empty={})
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(400, f"Field '{where}': {first['msg']}.") from exc


async def form_body(request: web.Request) -> MultiDictProxy[Any]:
    """The request's form fields (urlencoded or multipart); 400 when the form is malformed."""
    try:
        form = await request.post()
    except web.HTTPException:
        raise  # 413 and the like keep their status
    except (
        ValueError,
        LookupError,  # an unknown charset
        AssertionError,
        RequestPayloadError,
        HttpProcessingError,
    ) as exc:
        raise ApiError(
            400, f"The form could not be read: {_reason(exc)}; send it as a browser does."
        ) from None
    for key, value in form.items():
        _check_string(key, key)
        if isinstance(value, str):
            _check_string(value, key)
    return form


def _reason(exc: Exception) -> str:
    if isinstance(exc, HttpProcessingError):
        return exc.message.rstrip(".") or "its multipart data is malformed"
    text = str(exc).strip().splitlines()
    return text[0].rstrip(".") if text else type(exc).__name__


def id_number(text: str) -> int | None:
    """The whole number `text` writes in ASCII digits, leading zeros allowed, or None when it
    is not one ("²" is a digit to Python but not a number). A number past MAX_ID comes back as
    MAX_ID + 1, never converted whole: no stored id is that large, and int() of thousands of
    digits is slow enough to be an attack. The API's paths and queries and the CLI's id
    arguments all read ids with it."""
    if not (text.isascii() and text.isdigit()):
        return None
    digits = text.lstrip("0")
    return int(digits or "0") if len(digits) <= 19 else MAX_ID + 1


def path_id(request: web.Request, kind: str, *, bad_status: int = 400) -> int:
    """The `{id}` of the path as a number (see `id_number`): `bad_status` when it is not one,
    404 when it is larger than any stored id."""
    raw = request.match_info["id"]
    number = id_number(raw)
    if number is None:
        if bad_status == 404:
            raise ApiError(404, f"There is no {kind} {raw!r}.")
        raise ApiError(bad_status, f"The {kind} id must be a number, not {raw!r}.")
    if number > MAX_ID:
        raise ApiError(404, f"There is no {kind} {raw}.")
    return number


async def found_by_path_id(
    request: web.Request,
    kind: str,
    look_up: Callable[[int], Awaitable[T | None]],
    missing: type[LookupError] | tuple[type[LookupError], ...] = (),
) -> tuple[int, T]:
    """The `{id}` of the path and the `kind` that `look_up` finds under it, for a page of one
    thing: 404 when the id is no number (or larger than any stored id), when `look_up` returns
    None, or when it raises `missing` (whose sentence the answer says)."""
    ident = path_id(request, kind, bad_status=404)
    try:
        found = await look_up(ident)
    except missing as exc:
        raise ApiError(404, str(exc)) from exc
    if found is None:
        raise ApiError(404, f"There is no {kind} {ident}.")
    return ident, found


def query_int(request: web.Request, name: str, default: int | None) -> int | None:
    """A whole number from the query string (`default` when absent); 400 when it is not one
    or is larger than any stored id."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    number = id_number(raw)
    if number is None or number > MAX_ID:
        raise ApiError(
            400, f"The query parameter {name!r} must be a whole number up to {MAX_ID}, got {raw!r}."
        )
    return number
