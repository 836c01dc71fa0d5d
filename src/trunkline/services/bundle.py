"""What the REST method handlers receive: the :class:`Services` Protocol, and the bundle
the composition root builds.

A handler reaches data only through these services (``methods/`` never imports
``storage/``); it reads the settings and the application clock here too, so that
``server.time`` and the portal's offset follow a moved clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from trunkline.domain.clock import Clock
from trunkline.services.accounts import AccountService
from trunkline.services.apps import AppService
from trunkline.services.calls import CallService
from trunkline.services.clicks import ClickService
from trunkline.services.crm import CrmService
from trunkline.services.events import EventService
from trunkline.services.external_calls import ExternalCallService
from trunkline.services.external_lines import ExternalLineService
from trunkline.services.lines import LineService
from trunkline.services.recordings import RecordingService
from trunkline.services.simulator import CallSimulator
from trunkline.services.telephony import TelephonyService
from trunkline.settings import Settings


class Services(Protocol):
    """The services a method handler uses (``Call.services``)."""

    @property
    def lines(self) -> LineService: ...

    @property
    def apps(self) -> AppService: ...

    @property
    def accounts(self) -> AccountService: ...

    @property
    def crm(self) -> CrmService: ...

    @property
    def clicks(self) -> ClickService: ...

    @property
    def calls(self) -> CallService: ...

    @property
    def external_lines(self) -> ExternalLineService: ...

    @property
    def external_calls(self) -> ExternalCallService: ...

    @property
    def telephony(self) -> TelephonyService: ...

    @property
    def recordings(self) -> RecordingService: ...

    @property
    def events(self) -> EventService: ...

    @property
    def simulator(self) -> CallSimulator: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def clock(self) -> Clock: ...


@dataclass(frozen=True, slots=True)
class ServiceBundle:
    """The services of one worker (satisfies :class:`Services`)."""

    lines: LineService
    accounts: AccountService
    apps: AppService
    calls: CallService
    telephony: TelephonyService
    events: EventService
    simulator: CallSimulator
    settings: Settings
    external_lines: ExternalLineService
    external_calls: ExternalCallService
    recordings: RecordingService
    crm: CrmService
    clicks: ClickService
    clock: Clock
