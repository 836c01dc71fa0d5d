"""``batch``: up to 50 calls in one request (``rest-protocol.md`` §7).

Rules:

* ``cmd`` is a map or a list of ``"method?query"`` strings (non-strings are
  skipped); the query is read like a query string (raw or percent-encoded
  brackets, ``[]`` appends, a trailing ``&``, an empty query); a command whose
  ``?`` is itself still encoded (CRest's double encoding) is decoded once more.
* ``halt`` is PHP-truthy: stop after the first failing command.
* Commands run in order as the batch's caller; a command past the 50th gets
  ``ERROR_BATCH_LENGTH_EXCEEDED``, a nested ``batch``
  ``ERROR_BATCH_METHOD_NOT_ALLOWED``; the only auth check is the scope.
* ``$result[id][field]...`` (and ``$total``, ``$next``, ``$time``, ``$error``) in a
  value is replaced by that part of an earlier command's answer: the whole
  structure when the reference is the whole value, its text when it is embedded
  (non-scalars then stay as written). A missing step stops at the last level found.
* Each answer map is keyed by the command's key; an empty map is ``[]`` and a map
  keyed 0..n-1 in order is a list, as PHP's JSON encoder writes arrays.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from trunkline.domain.php import boolval, strval
from trunkline.errors import BatchLengthExceededError, BatchMethodNotAllowedError
from trunkline.rest.params import parse_query
from trunkline.rest.record import CallRecord
from trunkline.rest.registry import Call, Registry, Result
from trunkline.rest.responses import error_body, error_status

MAX_COMMANDS = 50
_REFERENCE = re.compile(r"\$(result|total|next|time|error)((?:\[[^\[\]]*\])+)")
_STEP = re.compile(r"\[([^\[\]]*)\]")


def php_array(entries: dict[str, Any]) -> Any:
    """A PHP array as JSON writes it: [] when empty, a list when keyed 0..n-1."""
    if not entries or all(key == str(i) for i, key in enumerate(entries)):
        return list(entries.values())
    return entries


def _walk(value: Any, steps: list[str]) -> Any:
    for step in steps:
        if isinstance(value, dict) and step in value:
            value = value[step]
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            break
    return value


class _Answers:
    def __init__(self) -> None:
        self.maps: dict[str, dict[str, Any]] = {
            "result": {},
            "error": {},
            "total": {},
            "next": {},
            "time": {},
        }

    def lookup(self, kind: str, path: str) -> tuple[bool, Any]:
        steps = _STEP.findall(path)
        table = self.maps[kind]
        if not steps or steps[0] not in table:
            return False, None
        return True, _walk(table[steps[0]], steps[1:])

    def substitute(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self.substitute(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.substitute(v) for v in value]
        if not isinstance(value, str) or "$" not in value:
            return value
        whole = _REFERENCE.fullmatch(value)
        if whole:
            found, target = self.lookup(whole.group(1), whole.group(2))
            return target if found else value

        def splice(match: re.Match[str]) -> str:
            found, target = self.lookup(match.group(1), match.group(2))
            if not found or isinstance(target, dict | list):
                return match.group(0)
            text = strval(target)
            return match.group(0) if text is None else text

        return _REFERENCE.sub(splice, value)


def _split_command(command: str) -> tuple[str, str]:
    if "?" not in command and "%3f" in command.lower():
        command = unquote(command)
    name, _, query = command.partition("?")
    return name.strip(), query


async def batch(call: Call) -> Result:
    params = {str(k).lower(): v for k, v in call.params.items()}
    raw = params.get("cmd")
    commands: list[tuple[str, str]] = []
    if isinstance(raw, dict):
        commands = [(str(k), v) for k, v in raw.items() if isinstance(v, str)]
    elif isinstance(raw, list):
        commands = [(str(i), v) for i, v in enumerate(raw) if isinstance(v, str)]
    halt = boolval(params.get("halt", False))
    answers = _Answers()
    dispatcher = call.dispatcher
    settings = call.services.settings
    for position, (key, command) in enumerate(commands):
        name, running = "", False
        try:
            if position >= MAX_COMMANDS:
                raise BatchLengthExceededError()
            name, query = _split_command(command)
            method = dispatcher.command(name)
            if not method.batchable:
                raise BatchMethodNotAllowedError()
            sub_params = parse_query(
                query, max_nesting=settings.max_nesting, max_vars=settings.max_input_vars
            )
            sub_params = answers.substitute(sub_params)
            running = True  # from here on run_in_batch tells the observers
            result, timing = await dispatcher.run_in_batch(name, sub_params, call.principal)
        except Exception as exc:  # rendered by the one error renderer, as a call would be
            if not running and dispatcher.observers:
                status, code = error_status(exc)
                record = CallRecord(name.lower(), {}, call.principal, None, status, code, 0.0, True)
                dispatcher.observe(record)
            answers.maps["error"][key] = error_body(exc)[1]
            if halt:
                break
            continue
        answers.maps["result"][key] = result.result
        answers.maps["time"][key] = timing
        if result.total is not None:
            answers.maps["total"][key] = result.total
        if result.next is not None:
            answers.maps["next"][key] = result.next
    maps = answers.maps
    return Result(
        {
            "result": php_array(maps["result"]),
            "result_error": php_array(maps["error"]),
            "result_total": php_array(maps["total"]),
            "result_next": php_array(maps["next"]),
            "result_time": php_array(maps["time"]),
        }
    )


def register(registry: Registry) -> None:
    registry.add("batch", batch, scope=None, batchable=False)
