"""Operator endpoints of the request journal (``services/journal.py``).

    GET    /operator/requests?portal=&method=&status=&error=&principal=&batch=&since=
                             &after=&limit=        rows, oldest first (limit: 1..10000,
                                                   default 1000; after: a row id)
    POST   /operator/requests/count                a matcher -> {"count": n}
    DELETE /operator/requests                      every row gone

A matcher is an object of ``method``, ``portal``, ``status``, ``error``, ``principal``
(``webhook:<id>`` or ``app:<client_id>``), ``batch`` (true: only batch commands),
``since`` (seconds or ISO 8601) and ``params`` (a subset of the call's parameters).
"""

from __future__ import annotations

from functools import partial

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trunkline.services.journal import MATCHER_FIELDS, journal_filter
from trunkline.web.operator.base import OperatorApi, OperatorError

QUERY_FIELDS = (*MATCHER_FIELDS[:-1], "after", "limit")


def routes(api: OperatorApi) -> list[Route]:
    return [
        Route("/operator/requests", api.guarded(partial(requests, api)), methods=["GET", "DELETE"]),
        Route("/operator/requests/count", api.guarded(partial(count, api)), methods=["POST"]),
    ]


async def requests(api: OperatorApi, request: Request) -> Response:
    journal = api.journal()
    if request.method == "DELETE":
        return JSONResponse({"deleted": await journal.clear()})
    query = dict(request.query_params)
    unknown = sorted(set(query) - set(QUERY_FIELDS))
    if unknown:
        raise OperatorError(
            400,
            "invalid_request",
            f"unknown parameter {unknown[0]} (known: {', '.join(QUERY_FIELDS)})",
        )
    limit_text = query.pop("limit", "1000")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 10000:
        raise OperatorError(400, "invalid_request", f"limit must be 1 to 10000, got {limit_text!r}")
    rows = await journal.rows(journal_filter(query), int(limit_text))
    return JSONResponse({"requests": rows})


async def count(api: OperatorApi, request: Request) -> Response:
    matcher = await api.json(request)
    return JSONResponse({"count": await api.journal().count(matcher)})
