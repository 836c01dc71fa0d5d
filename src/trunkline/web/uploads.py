"""``POST /rest/upload.json?token=...``: the upload URL ``attachRecord`` hands out when
given FILENAME alone (multipart form, the file in the field ``file``).

Rules: the answer is a REST envelope (``{"result": {"FILE_ID": 7}}``, or the error
envelope with 400); a body declared larger than ``record_max_bytes`` (plus 64 KiB of
form) is refused before it is read; the form parser spools the file to disk, and the
recording is copied from there in chunks.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse

from trunkline.domain.recordings import UPLOAD_FIELD
from trunkline.errors import RefusedError, RequestTooLargeError, RestError
from trunkline.services.recordings import RecordingService

FORM_SLACK = 64 * 1024


def _error(exc: RestError) -> JSONResponse:
    return JSONResponse(exc.to_wire(), status_code=exc.http_status)


async def upload(
    recordings: RecordingService, max_bytes: int, scope: dict[str, Any], receive: Any, send: Any
) -> None:
    request = Request(scope, receive)
    response = await _answer(recordings, max_bytes, request)
    await response(scope, receive, send)


async def _answer(recordings: RecordingService, max_bytes: int, request: Request) -> JSONResponse:
    if request.method != "POST":
        return _error(RefusedError("Error: the file should be POSTed as multipart/form-data"))
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes + FORM_SLACK:
        return _error(RequestTooLargeError(max_bytes + FORM_SLACK))
    token = request.query_params.get("token", "")
    try:
        form = await request.form(max_files=1, max_fields=16)
    except Exception:  # the form parser's errors: a body that is no multipart form
        return _error(RefusedError(f"Error: required parameter {UPLOAD_FIELD} is not found"))
    try:
        item = form.get(UPLOAD_FIELD)
        if not isinstance(item, UploadFile):
            raise RefusedError(f"Error: required parameter {UPLOAD_FIELD} is not found")
        handle = item.file
        chunks = iter(lambda: handle.read(64 * 1024), b"")
        file_id = await recordings.upload(token, item.filename or "", chunks)
    except RestError as exc:
        return _error(exc)
    finally:
        await form.close()
    return JSONResponse({"result": {"FILE_ID": file_id}})
