"""What every request must be before a handler sees it: ids a database can hold, JSON
bodies of exactly the declared types.

Both apply to the whole app (registered in kibitz/app.py), so a new route cannot forget them.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.enums import RequestEncodingType
from litestar.exceptions import ValidationException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import BodyKwarg

from kibitz.services.errors import NotFound, ServiceError

MAX_ID = 2**63 - 1
_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)


async def ids_in_range(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """A path id (``{comment_id:int}`` and the like) beyond what a BIGINT holds names nothing:
    404 here, rather than an overflow in the database driver."""
    for value in connection.path_params.values():
        if isinstance(value, int) and not 1 <= value <= MAX_ID:
            raise NotFound("not_found", "There is nothing with that id.")


async def strict_json(request: Request[Any, Any, Any]) -> None:
    """Decode a JSON body strictly against the handler's declared type: ``"1"`` is not an
    int, ``1.0`` is not an int, a string is not a bool. (Litestar converts bodies leniently,
    as it must for query strings; it decodes them again after this check.) Unknown fields
    are ignored where the model says so, for clients newer than the server."""
    field = request.route_handler.parsed_data_field
    if field is None:
        return
    kwarg = field.kwarg_definition
    if isinstance(kwarg, BodyKwarg) and kwarg.media_type != RequestEncodingType.JSON:
        return
    body = await request.body()
    if not body.strip():
        if field.is_optional or field.has_default:
            return
        raise ServiceError("malformed_json", "The request has no JSON body.")
    try:
        msgspec.json.decode(body, type=field.annotation, strict=True)
    except msgspec.ValidationError as exc:
        m = _AT.match(str(exc))
        message, path = (m.group("message"), m.group("path")) if m else (str(exc), None)
        key = re.sub(r"\[(\d+)\]", r".\1", path or "").lstrip(".") or "data"
        raise ValidationException(extra=[{"message": message, "key": key}]) from None
    except msgspec.DecodeError:
        return  # not JSON: Litestar says so in its own words (errors.http_error)
