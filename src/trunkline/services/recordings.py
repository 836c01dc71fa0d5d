"""Recordings and transcripts of finished calls (``telephony.externalCall.attachRecord``,
the upload URL it hands out, ``telephony.call.attachTranscription``).

Rules (the core's order of checks; ``domain/recordings.py`` for what a recording is):

* A recording attaches to a finished call of the portal (its statistics row): "Call is
  not found in the statistic table. ..." otherwise, checked first.
* FILENAME with FILE_CONTENT: the name ("File name is empty", "Wrong file extension ..."),
  then the content: empty ("File content is empty."), not base64 ("File content is not
  properly encoded. ..."), over ``record_max_bytes``, not audio. Decoded chunk by chunk
  to the record directory, never held whole.
* FILENAME alone: an upload URL (``<base>/rest/upload.json?token=...``) and the field
  name ``file``; one POST of the file within an hour stores it (same checks).
* RECORD_URL: fetched only from an allowed host (``record_fetch_hosts``; loopback always),
  within ``record_fetch_timeout`` seconds and ``record_max_bytes``, no redirects; an
  answer other than 200 is "Server returns HTTP error code <N>". The row's
  CALL_RECORD_URL becomes the URL.
* A new recording replaces the call's earlier one (its file is deleted after the commit);
  the row's RECORD_FILE_ID is the new file's id, which the method answers.
* A transcript needs a finished call ("Call <CALL_ID> is not found. Is it finished?"); its
  id becomes the row's TRANSCRIPT_ID.
"""

from __future__ import annotations

import asyncio
import binascii
import hashlib
import json
import secrets
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import quote

from trunkline.domain.calls import CallRecord
from trunkline.domain.clock import Clock
from trunkline.domain.recordings import (
    BAD_BASE64,
    EMPTY_CONTENT,
    EMPTY_NAME,
    UPLOAD_FIELD,
    UPLOAD_TTL,
    WRONG_EXTENSION,
    allowed_name,
    content_type,
    host_allowed,
    is_audio,
    parse_record_url,
)
from trunkline.errors import RefusedError
from trunkline.settings import Settings
from trunkline.storage.calls import CallRepository
from trunkline.storage.record_files import RecordFiles, TooLargeFileError
from trunkline.storage.uploads import UploadRepository

NOT_FINISHED = {
    "doc": "Call is not found in the statistic table. It looks like it is not finished yet.",
    "core": "Call is not found in the statistic table. Looks like it is not finished yet.",
}
NO_SOURCE = {
    "doc": "Required parameters are not set. Request should contain either URL or FILENAME "
    "parameter",
    "core": "Required parameters are not set. Request should contain or URL or FILENAME parameter",
}
_CHUNK = 64 * 1024  # base64 characters decoded at a time (a multiple of 4)


class FetchFailedError(Exception):
    """The RECORD_URL could not be read (no answer, refused, timed out)."""


class RecordSource(Protocol):
    """Where RECORD_URLs are read (``web/fetcher.py``): the status and the body's chunks.
    Raises :class:`FetchFailedError` when there is no answer."""

    def open(
        self, url: str, timeout: float
    ) -> AbstractContextManager[tuple[int, Iterator[bytes]]]: ...


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _decoded(content: str) -> Iterator[bytes]:
    """The bytes of base64 ``content``, chunk by chunk (binascii.Error when it is not)."""
    if any(c in content for c in " \t\r\n"):
        content = "".join(content.split())
    for start in range(0, len(content), _CHUNK):
        yield binascii.a2b_base64(content[start : start + _CHUNK], strict_mode=True)


class RecordingService:
    def __init__(
        self,
        calls: CallRepository,
        uploads: UploadRepository,
        files: RecordFiles,
        settings: Settings,
        clock: Clock,
        source: RecordSource | None = None,
    ) -> None:
        self.calls = calls
        self.uploads = uploads
        self.files = files
        self.settings = settings
        self.clock = clock
        self.source = source

    def _text(self, texts: dict[str, str]) -> str:
        return texts[self.settings.error_texts]

    def no_source(self) -> RefusedError:
        return RefusedError(self._text(NO_SOURCE))

    async def finished(self, portal_id: int, call_id: str) -> CallRecord:
        record = await self.calls.record(portal_id, call_id)
        if record is None:
            raise RefusedError(self._text(NOT_FINISHED))
        return record

    # -- the three ways in -------------------------------------------------------------

    async def attach_content(
        self, portal_id: int, call_id: str, filename: str, content: str
    ) -> int:
        await self.finished(portal_id, call_id)
        if filename == "":
            raise RefusedError(EMPTY_NAME)
        if not allowed_name(filename):
            raise RefusedError(WRONG_EXTENSION)
        if content == "":
            raise RefusedError(EMPTY_CONTENT)
        if len(content) * 3 // 4 > self.settings.record_max_bytes + 3:
            raise self._too_large()
        return await self._store(portal_id, call_id, filename, _decoded(content), None)

    async def upload_url(
        self, portal_id: int, call_id: str, filename: str, base: str
    ) -> dict[str, str]:
        await self.finished(portal_id, call_id)
        token = secrets.token_urlsafe(24)
        now = self.clock.now()
        await self.uploads.add(
            portal_id, _token_hash(token), call_id, filename, now + UPLOAD_TTL, now
        )
        url = f"{base.rstrip('/')}/rest/upload.json?token={quote('telephony|' + token, safe='')}"
        return {"uploadUrl": url, "fieldName": UPLOAD_FIELD}

    async def upload(self, token: str, filename: str, body: Iterable[bytes]) -> int:
        """Store a POSTed file for the upload URL ``token`` (``telephony|<secret>``)."""
        secret = token.removeprefix("telephony|")
        found = await self.uploads.find(_token_hash(secret), self.clock.now())
        if found is None:
            raise RefusedError("Upload URL is unknown or expired")
        portal_id, call_id, _ = found
        if not allowed_name(filename):
            raise RefusedError(WRONG_EXTENSION)
        await self.finished(portal_id, call_id)
        return await self._store(portal_id, call_id, filename, body, None, spend=secret)

    async def attach_url(self, portal_id: int, call_id: str, url: str, filename: str) -> int:
        await self.finished(portal_id, call_id)
        parsed = parse_record_url(url)
        if parsed is None:
            raise RefusedError("RECORD_URL should be an http or https URL")
        if not host_allowed(parsed.host, self.settings.record_fetch_hosts):
            raise RefusedError(
                f"RECORD_URL host {parsed.host} is not allowed (setting record_fetch_hosts)"
            )
        name = filename or parsed.name
        if not allowed_name(name):
            raise RefusedError(WRONG_EXTENSION)
        if self.source is None:
            raise RefusedError("RECORD_URL cannot be fetched: no HTTP client configured")
        source = self.source
        timeout = float(self.settings.record_fetch_timeout)

        deadline = self.clock.monotonic() + timeout

        def timed(chunks: Iterator[bytes]) -> Iterator[bytes]:
            for chunk in chunks:
                if self.clock.monotonic() > deadline:
                    raise FetchFailedError(f"SERVER_NOT_AVAILABLE: timed out after {timeout:g} s")
                yield chunk

        def download() -> tuple[str, int, bytes]:
            with source.open(url, timeout) as (status, chunks):
                if status != 200:
                    raise RefusedError(f"Server returns HTTP error code {status}")
                return self.files.write(timed(chunks), self.settings.record_max_bytes)

        written = await self._write(download)
        return await self._keep(portal_id, call_id, name, written, url)

    # -- storing -------------------------------------------------------------------------

    def _too_large(self) -> RefusedError:
        return RefusedError(
            f"File is too large: the limit is {self.settings.record_max_bytes} bytes"
        )

    async def _write(self, work: Any) -> tuple[str, int, bytes]:
        try:
            written: tuple[str, int, bytes] = await asyncio.to_thread(work)
        except TooLargeFileError:
            raise self._too_large() from None
        except binascii.Error:
            raise RefusedError(BAD_BASE64) from None
        except FetchFailedError as exc:
            raise RefusedError(str(exc)) from None
        return written

    async def _store(
        self,
        portal_id: int,
        call_id: str,
        name: str,
        chunks: Iterable[bytes],
        url: str | None,
        spend: str | None = None,
    ) -> int:
        written = await self._write(
            lambda: self.files.write(chunks, self.settings.record_max_bytes)
        )
        return await self._keep(portal_id, call_id, name, written, url, spend)

    async def _keep(
        self,
        portal_id: int,
        call_id: str,
        name: str,
        written: tuple[str, int, bytes],
        url: str | None,
        spend: str | None = None,
    ) -> int:
        path, size, head = written
        if size == 0:
            self.files.remove(path)
            raise RefusedError(EMPTY_CONTENT)
        if not is_audio(head):
            self.files.remove(path)
            raise RefusedError(WRONG_EXTENSION)
        old_path = None
        try:
            async with self.calls.transaction() as tx:
                if spend is not None and not await self.uploads.use(tx, _token_hash(spend)):
                    raise RefusedError("Upload URL is unknown or expired")
                file_id = await self.calls.add_file(
                    tx,
                    portal_id,
                    call_id,
                    name=name[:255],
                    size=size,
                    content_type=content_type(name),
                    path=path,
                    source_url=url,
                    now=self.clock.now(),
                )
                old = await self.calls.attach_file(tx, portal_id, call_id, file_id, url)
                if old is not None:
                    old_path = await self.calls.forget_file(tx, old)
        except BaseException:
            self.files.remove(path)
            raise
        if old_path is not None:
            self.files.remove(old_path)
        return file_id

    async def file(self, file_id: int) -> tuple[int, str, str, str] | None:
        """(portal id, name, content type, path) of a stored recording."""
        return await self.calls.file(file_id)

    # -- transcripts ---------------------------------------------------------------------

    async def attach_transcription(
        self,
        portal_id: int,
        call_id: str,
        messages: list[dict[str, Any]],
        cost: Decimal | None,
        currency: str | None,
    ) -> int:
        if await self.calls.record(portal_id, call_id) is None:
            raise RefusedError(f"Call {call_id} is not found. Is it finished?")
        async with self.calls.transaction() as tx:
            return await self.calls.add_transcript(
                tx,
                portal_id,
                call_id,
                json.dumps(messages, ensure_ascii=False),
                cost,
                currency,
                self.clock.now(),
            )
