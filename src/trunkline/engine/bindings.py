"""A registrar binding in the SIP core's form (``sip.registrar.Binding``) and the database's
(``domain.lines.OfficeBinding``), for office lines and users' phones alike.

Rules:

* Text columns are cut to their stored widths (255, the transport 8). The received host,
  transport and user agent are interned: thousands of phones behind one NAT share them.
* RFC 5626 ``reg-id`` is 1 .. 2**31 - 1; anything else is stored as 0 (none), and 0 reads
  back as no reg-id. An empty user agent or instance id reads back as None.
"""

from __future__ import annotations

import sys

from trunkline.domain.lines import OfficeBinding
from trunkline.sip.registrar import Binding, Source

__all__ = ["to_sip", "to_stored"]


def to_sip(binding: OfficeBinding) -> Binding:
    return Binding(
        contact=binding.contact,
        expires_at=binding.expires_at,
        call_id=binding.call_id,
        cseq=binding.cseq,
        source=Source(binding.received_host, binding.received_port, binding.transport),
        user_agent=binding.user_agent or None,
        instance_id=binding.instance_id or None,
        reg_id=str(binding.reg_id) if binding.reg_id else None,
    )


def reg_id(value: str | None) -> int:
    """RFC 5626 reg-id: 1 .. 2**31 - 1; anything else is stored as 0 (none)."""
    if value is None or not value.isdigit() or len(value) > 10:
        return 0
    number = int(value)
    return number if 0 < number < 2**31 else 0


def to_stored(binding: Binding, now: float) -> OfficeBinding:
    return OfficeBinding(
        contact=binding.contact,
        received_host=sys.intern(binding.source.host[:255]),  # shared by many bindings
        received_port=binding.source.port,
        transport=sys.intern(binding.source.transport[:8]),
        call_id=binding.call_id[:255],
        cseq=binding.cseq,
        user_agent=sys.intern((binding.user_agent or "")[:255]),
        expires_at=binding.expires_at,
        updated_at=now,
        instance_id=(binding.instance_id or "")[:255],
        reg_id=reg_id(binding.reg_id),
    )
