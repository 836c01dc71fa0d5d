"""``trunkline crm add|import|list``: the minimal CRM the telephony flow reads.

    trunkline crm add --portal example.bitrix24.com --type contact --name "John Doe" \\
        --phone +79780000000 --assigned-by 1
    trunkline crm import contacts.json --portal example.bitrix24.com
    trunkline crm import contacts.csv
    trunkline crm list

A JSON file holds a list of objects (or one object with ``entities``); a CSV file has a
header row. Fields: ``type`` (contact, company, lead), ``name``, ``phones`` (a list, or
numbers separated by commas or semicolons; ``phone`` too), ``assigned_by`` (a user id,
default 1), ``source``. An import stores every entity or none.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from trunkline.cli.common import CliError, Context, emit, options, run, table

if TYPE_CHECKING:
    from trunkline.services.crm import CrmService


def _service(ctx: Context) -> CrmService:
    from trunkline.services.crm import CrmService

    return CrmService(ctx.store.crm, ctx.store.accounts, ctx.clock)


def _read(path: str) -> list[dict[str, Any]]:
    import csv
    import json

    try:
        with open(path, encoding="utf-8", newline="") as handle:
            if path.lower().endswith(".csv"):
                return [dict(row) for row in csv.DictReader(handle)]
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read {path}: {exc}") from exc
    if isinstance(data, dict):
        data = data.get("entities", [data])
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise CliError(f"{path}: expected a list of objects")
    return data


def _add(args: argparse.Namespace, items: list[dict[str, Any]]) -> list[int]:
    from trunkline.services.crm import CrmInputError

    async def work(ctx: Context) -> list[int]:
        try:
            return await _service(ctx).add_many(await ctx.portal(), items)
        except CrmInputError as exc:
            raise CliError(str(exc)) from exc

    result: list[int] = run(args, work)
    return result


def cmd_add(args: argparse.Namespace) -> None:
    item = {
        "type": args.type,
        "name": args.name,
        "phones": args.phone or [],
        "assigned_by": args.assigned_by,
        "source": args.source,
    }
    (entity_id,) = _add(args, [item])
    emit(args, {"id": entity_id, "type": args.type.upper()}, f"{args.type.upper()}:{entity_id}")


def cmd_import(args: argparse.Namespace) -> None:
    ids = _add(args, _read(args.file))
    emit(args, {"ids": ids}, f"{len(ids)} entities imported")


def cmd_list(args: argparse.Namespace) -> None:
    async def work(ctx: Context) -> list[dict[str, Any]]:
        entities = await _service(ctx).entities(await ctx.portal())
        return [
            {
                "id": e.id,
                "type": e.type.value,
                "name": e.name,
                "assigned_by": e.assigned_by,
                "phones": ", ".join(e.phones),
            }
            for e in entities
        ]

    rows = run(args, work)
    columns = ["id", "type", "name", "assigned_by", "phones"]
    emit(args, rows, table(rows, columns, "(no CRM entities)"))


def register(sub: Any) -> None:
    crm = sub.add_parser("crm", help="the minimal CRM (contacts, companies, leads)")
    commands = crm.add_subparsers(dest="crm_command", required=True)
    add = commands.add_parser(
        "add", help="add a contact, company or lead", description="Add one CRM entity."
    )
    options(add)
    add.add_argument("--type", required=True, choices=["contact", "company", "lead"])
    add.add_argument("--name", required=True, help="the name shown for the entity")
    add.add_argument("--phone", action="append", help="a phone number (repeatable)")
    add.add_argument("--assigned-by", type=int, default=1, help="responsible user id")
    add.add_argument("--source", default="", help="source id (leads)")
    add.set_defaults(func=cmd_add)
    load = commands.add_parser(
        "import",
        help="import entities from JSON or CSV",
        description="Import CRM entities from a JSON or CSV file (all or none).",
    )
    options(load)
    load.add_argument("file", help="a .json or .csv file")
    load.set_defaults(func=cmd_import)
    listing = commands.add_parser(
        "list", help="list CRM entities", description="List CRM entities."
    )
    options(listing)
    listing.set_defaults(func=cmd_list)
