"""The calls' enums as the hot paths read them: a member's ``_value_`` (read directly by
storage/call_rows.py and methods/statistic.py instead of the ``.value`` property) and
TYPE's members by number (domain/external.py ``call_type``)."""

from __future__ import annotations

from trunkline.domain.calls import CallCategory, CallOrigin, CallType, CrmType, LineKind
from trunkline.domain.external import call_type


def test_value_is_what_the_property_gives():
    for kind in (CallCategory, CallOrigin, LineKind, CrmType, CallType):
        for member in kind:
            assert member._value_ == member.value and type(member._value_) is type(member.value)


def test_call_type_gives_the_members_by_number():
    for n in range(1, 6):
        for value in (n, float(n), str(n), f" {n}.0 ", True if n == 1 else n):
            assert call_type(value) is CallType(n)
    for value in (0, 6, 2.5, "x", None, False, [], "1e0"):
        assert call_type(value) is (CallType(1) if value == "1e0" else None)
