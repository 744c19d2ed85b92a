"""The tenant card beside a conversation: needs, briefings, visit history, the number's check, doorstep codes.

What one officer role may read is decided here, before a template sees it:
a restricted note reaches the page only for a safeguarding officer, and as a
neutral line for everyone else.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from service import adjustments
from service.console import access, queries
from service.console.display import need_kind
from store.models import Adjustment, Tenant, Visit

DOORSTEP_WINDOW = timedelta(hours=24)
ASSISTANT_ACTORS = {
    "assistant": "the assistant",
    "tenant": "the tenant",
    "system": "the booking system",
}


@dataclass(frozen=True)
class Need:
    id: int
    kind: str
    label: str
    detail: str
    recorded_by: str
    recorded_at: datetime
    consent_at: datetime | None
    consent_how: str | None
    special_category: bool
    restricted: bool


@dataclass(frozen=True)
class Card:
    needs: list[Need]
    # A note this officer's role may not read exists; the page says so neutrally.
    restricted_hidden: bool
    # Per open, not yet finished visit: what the operative is told at the door.
    briefings: dict[int, list[str]]
    # Open visits starting within the next 24 hours (or under way): their doorstep codes.
    doorstep: list[Visit]
    # "officer:7" -> "Sam Patel", "assistant" -> "the assistant": who recorded a note or changed a visit.
    actors: dict[str, str] = field(default_factory=dict)


def tenant_card(session: Session, tenant: Tenant, visits: list[Visit], role: str, now: datetime) -> Card:
    held = adjustments.active(session, tenant.id)
    shown = [adjustment for adjustment in held if adjustments.visible_to(role, adjustment)]
    upcoming = [visit for visit in visits if visit.is_open and visit.slot_end > now]
    actors = _actor_names(session, [a.recorded_by for a in shown] + [e.actor for v in visits for e in v.history])
    return Card(
        needs=[_need(adjustment, actors) for adjustment in shown],
        restricted_hidden=len(shown) < len(held),
        briefings={
            visit.id: access.briefing_for_role(role, adjustments.briefing_for(session, visit)) for visit in upcoming
        },
        doorstep=[visit for visit in upcoming if visit.slot_start < now + DOORSTEP_WINDOW],
        actors=actors,
    )


def _need(adjustment: Adjustment, actors: dict[str, str]) -> Need:
    return Need(
        id=adjustment.id,
        kind=adjustment.kind,
        label=need_kind(adjustment.kind),
        detail=adjustment.detail or "",
        recorded_by=actors.get(adjustment.recorded_by, adjustment.recorded_by),
        recorded_at=adjustment.recorded_at,
        consent_at=adjustment.consent_at,
        consent_how=adjustment.consent_how,
        special_category=adjustment.special_category,
        restricted=adjustment.restricted,
    )


def _actor_names(session: Session, actors: list[str]) -> dict[str, str]:
    officer_ids = {actor: _officer_id(actor) for actor in actors}
    names = queries.officer_names(session, officer_ids.values())
    labelled = dict(ASSISTANT_ACTORS)
    for actor, officer_id in officer_ids.items():
        if officer_id is not None:
            labelled[actor] = names.get(officer_id, f"officer {officer_id}")
    return labelled


def _officer_id(actor: str) -> int | None:
    prefix = "officer:"
    if actor and actor.startswith(prefix) and actor[len(prefix) :].isdigit():
        return int(actor[len(prefix) :])
    return None
