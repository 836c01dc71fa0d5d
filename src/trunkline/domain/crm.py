"""A minimal CRM: just enough contacts, companies and leads for the telephony flow
(no I/O).

Rules written here:

* An entity has a type (CONTACT, COMPANY, LEAD), a name, a responsible user
  (``ASSIGNED_BY_ID``) and phone numbers. Ids are unique across the server.
* Phone numbers are compared by their digits alone (``+7 (978) 000-00-00`` is
  ``79780000000``); a number with no digits matches nothing.
* The entity a call is bound to is the first match in the order contact, company, lead
  (the oldest of each type first); every match is bound. ``searchCrmEntities`` lists
  contacts, then leads, then companies, as the core does.
* ``CRM_CREATE`` makes a lead named after the number, owned by the call's user, with the
  number as its phone and ``CRM_SOURCE`` (default ``CALL``) as its source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from trunkline.domain.calls import CrmType

BIND_ORDER = (CrmType.CONTACT, CrmType.COMPANY, CrmType.LEAD)
SEARCH_ORDER = (CrmType.CONTACT, CrmType.LEAD, CrmType.COMPANY)
DEFAULT_SOURCE = "CALL"
NAME_MAX = 255

_NOT_DIGIT = re.compile(r"\D")


@dataclass(frozen=True, slots=True)
class CrmEntity:
    id: int
    portal_id: int
    type: CrmType
    name: str
    assigned_by: int
    phones: tuple[str, ...] = ()
    source: str = ""


@dataclass(frozen=True, slots=True)
class NewEntity:
    type: CrmType
    name: str
    assigned_by: int
    phones: tuple[str, ...] = ()
    source: str = ""


def phone_digits(text: str) -> str:
    return _NOT_DIGIT.sub("", text)


def crm_type(text: str) -> CrmType | None:
    """CONTACT, COMPANY or LEAD in any case; None for anything else."""
    upper = text.strip().upper()
    return CrmType(upper) if upper in CrmType.__members__ else None


def lead_name(phone: str) -> str:
    return f"Call {phone}"
