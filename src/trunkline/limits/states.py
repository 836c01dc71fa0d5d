"""Portal states an operator sets (``trunkline portal state``), and what each answers.

Rules, checked in this order for every REST call of the portal (``rest-protocol.md``
§3, §5, §8); the first two come before the method lookup and authentication when
the Host header names the portal (§3: infrastructure and the closed public part
answer first, so an unknown method or a bad credential still gets them), else
right after authentication, as the last two always do:

1. a manual block -> 503 ``OVERLOAD_LIMIT`` "REST API is blocked due to overload.";
2. a closed public part -> 403 ``PORTAL_DELETED`` "Portal was deleted";
3. a plan without REST (``free``) -> 401 ``ACCESS_DENIED`` "REST is available only on
   commercial plans.";
4. the caller on hold -> 503 ``OVERLOAD_LIMIT``. ``hold`` lists ``webhooks`` (every
   webhook), ``apps`` (every OAuth app), ``webhook:<id>`` or ``app:<client_id>``.

The plan also chooses the request-rate bucket (``enterprise``: 250 at 5/s, any
other: 50 at 2/s), and ``limits`` switches the limits on or off for this portal
whatever the global setting says (``default`` follows it).
"""

from __future__ import annotations

from dataclasses import dataclass

from trunkline.domain.principal import WEBHOOK, Principal
from trunkline.errors import CommercialPlanRequiredError, OverloadLimitError, PortalDeletedError
from trunkline.limits.bucket import ENTERPRISE, STANDARD, Rate
from trunkline.limits.names import HOLD_ALL, LIMIT_MODES, PLANS


class StateError(ValueError):
    """An operator's request names no valid state (shown as is by the CLI and endpoint)."""


@dataclass(frozen=True, slots=True)
class PortalState:
    portal_id: int
    plan: str = "standard"
    limits: str = "default"
    blocked: bool = False
    closed: bool = False
    hold: tuple[str, ...] = ()

    @property
    def rate(self) -> Rate:
        return ENTERPRISE if self.plan == "enterprise" else STANDARD

    @property
    def refuses(self) -> bool:
        """True when some call of this portal is refused before it runs."""
        return self.blocked or self.closed or self.plan == "free" or bool(self.hold)

    @property
    def early(self) -> bool:
        """True when this state answers before the method lookup and authentication
        (``rest-protocol.md`` §3 steps 1 and 3: a manual block, a closed portal)."""
        return self.blocked or self.closed

    def check_early(self) -> None:
        """Raise the error a blocked or closed portal answers every request with."""
        if self.blocked:
            raise OverloadLimitError()
        if self.closed:
            raise PortalDeletedError()

    def limits_on(self, default: bool) -> bool:
        if self.limits == "default":
            return default
        return self.limits == "on"

    def check(self, principal: Principal) -> None:
        """Raise the error this state answers for ``principal``'s calls, if any."""
        self.check_early()
        if self.plan == "free":
            raise CommercialPlanRequiredError()
        if self.hold and self.holds(principal):
            raise OverloadLimitError()

    def holds(self, principal: Principal) -> bool:
        if principal.auth_type == WEBHOOK:
            return "webhooks" in self.hold or f"webhook:{principal.webhook_id}" in self.hold
        return "apps" in self.hold or f"app:{principal.app_id}" in self.hold

    def describe(self) -> dict[str, object]:
        return {
            "plan": self.plan,
            "limits": self.limits,
            "blocked": self.blocked,
            "closed": self.closed,
            "hold": list(self.hold),
        }


def hold_entry(raw: str) -> str:
    """Validate one ``hold`` entry."""
    entry = raw.strip()
    if entry in HOLD_ALL:
        return entry
    kind, _, ident = entry.partition(":")
    if kind == "webhook" and ident.isdigit():
        return f"webhook:{int(ident)}"
    if kind == "app" and ident:
        return f"app:{ident}"
    raise StateError(f"cannot hold {raw!r}: use webhooks, apps, webhook:<id> or app:<client_id>")


def changed(
    state: PortalState,
    *,
    plan: str | None = None,
    limits: str | None = None,
    blocked: bool | None = None,
    closed: bool | None = None,
    hold: list[str] | None = None,
    release: list[str] | None = None,
) -> PortalState:
    """``state`` with the operator's changes applied (each validated)."""
    if plan is not None and plan not in PLANS:
        raise StateError(f"unknown plan {plan!r}; plans: {', '.join(PLANS)}")
    if limits is not None and limits not in LIMIT_MODES:
        raise StateError(f"unknown limits mode {limits!r}; modes: {', '.join(LIMIT_MODES)}")
    held = list(state.hold)
    for entry in map(hold_entry, hold or []):
        if entry not in held:
            held.append(entry)
    for raw in release or []:
        entry = "all" if raw.strip() == "all" else hold_entry(raw)
        held = [] if entry == "all" else [h for h in held if h != entry]
    return PortalState(
        state.portal_id,
        plan=state.plan if plan is None else plan,
        limits=state.limits if limits is None else limits,
        blocked=state.blocked if blocked is None else blocked,
        closed=state.closed if closed is None else closed,
        hold=tuple(held),
    )
