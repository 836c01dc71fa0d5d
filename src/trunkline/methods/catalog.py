"""Every method this server answers, registered in one registry.

``docs/methods.md`` is generated from it (``trunkline docs methods``) and a test fails
when the two differ.
"""

from __future__ import annotations

from trunkline.methods import (
    batch,
    connector,
    event,
    event_offline,
    external_call,
    external_line,
    external_record,
    sip_status,
    statistic,
    system,
    user,
    voximplant_call,
    voximplant_line,
    voximplant_sip,
    voximplant_user,
)
from trunkline.rest.registry import Registry


def build_registry() -> Registry:
    registry = Registry()
    batch.register(registry)
    voximplant_sip.register(registry)
    voximplant_line.register(registry)
    voximplant_user.register(registry)
    voximplant_call.register(registry)
    sip_status.register(registry)
    connector.register(registry)
    statistic.register(registry)
    external_line.register(registry)
    external_call.register(registry)
    external_record.register(registry)
    user.register(registry)
    event.register(registry)
    event_offline.register(registry)
    system.register(registry)
    return registry
