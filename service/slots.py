"""Free slots from the operatives' working hours and their booked visits."""

from collections.abc import Container
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import OPEN_VISIT_STATUSES, Operative, Visit

LONDON = ZoneInfo("Europe/London")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
STEP = timedelta(minutes=30)


@dataclass(frozen=True)
class Slot:
    start: datetime  # aware UTC
    end: datetime
    operative_id: int

    def as_dict(self) -> dict:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "operative_id": self.operative_id}

    @classmethod
    def from_dict(cls, data: dict) -> "Slot":
        return cls(datetime.fromisoformat(data["start"]), datetime.fromisoformat(data["end"]), data["operative_id"])


# No visit is booked sooner than this from now: an operative is not sent at no notice.
MIN_NOTICE = timedelta(hours=2)


def find_free_slots(
    session: Session,
    visit: Visit,
    wanted_start: datetime,
    wanted_end: datetime,
    *,
    now: datetime,
    minutes: int,
    skill: str | None,
    limit: int = 3,
    search_days: int = 21,
    region: str = "ENG",
    avoid: tuple[datetime, datetime] | None = None,
) -> list[Slot]:
    """Up to `limit` free slots for `visit`, those inside the wanted window first, then the nearest.

    Never earlier than two hours from now, so an operative is not sent at no notice, never
    the visit's own time (a tenant asking to move wants another one), and never inside
    `avoid`, a time the tenant said they cannot do.
    """
    earliest = now + MIN_NOTICE
    length = timedelta(minutes=minutes)
    operatives = _capable_operatives(session, skill)
    horizon_start = max(earliest, wanted_start - timedelta(days=3))
    horizon_end = max(wanted_end, earliest) + timedelta(days=search_days)

    closed = bank_holidays(region, horizon_start.year, horizon_end.year)
    candidates: dict[datetime, Slot] = {}
    for operative in operatives:
        busy = _busy_periods(session, operative.id, horizon_start, horizon_end, exclude_visit=visit.id)
        for start, end in _working_windows(operative, horizon_start, horizon_end, closed):
            moment = _round_up(max(start, earliest))
            while moment + length <= end:
                taken = moment in candidates or moment == visit.slot_start
                taken = taken or (avoid is not None and _overlaps(moment, moment + length, [avoid]))
                if not taken and not _overlaps(moment, moment + length, busy):
                    candidates[moment] = Slot(moment, moment + length, operative.id)
                moment += STEP

    def distance(slot: Slot) -> timedelta:
        if wanted_start <= slot.start and slot.end <= wanted_end:
            return timedelta(0)
        return min(abs(slot.start - wanted_start), abs(slot.end - wanted_end))

    ranked = sorted(candidates.values(), key=lambda slot: (distance(slot), slot.start))
    return _spread(ranked, limit, length)


@lru_cache(maxsize=8)
def bank_holidays(region: str, first_year: int, last_year: int) -> frozenset[date]:
    """UK bank holidays for a nation (ENG, WLS, SCT or NIR): nobody is booked on them."""
    return frozenset(holidays.country_holidays("GB", subdiv=region, years=range(first_year, last_year + 1)))


def slot_is_free(session: Session, slot: Slot, exclude_visit: int | None) -> bool:
    if slot.operative_id is None:
        return True  # nobody's diary to clash with
    busy = _busy_periods(session, slot.operative_id, slot.start, slot.end, exclude_visit=exclude_visit)
    return not _overlaps(slot.start, slot.end, busy)


def combined_slot(session: Session, visit: Visit, minutes: int, skills: set[str], region: str = "ENG") -> Slot | None:
    """The visit's slot made `minutes` long, with an operative who has every skill and is free all that time.

    The visit's own operative is preferred, so the tenant keeps the person they were told about.
    """
    start = visit.slot_start
    end = start + timedelta(minutes=minutes)
    closed = bank_holidays(region, start.year, end.year)
    capable = [o for o in _capable_operatives(session, None) if skills <= set(o.skills or [])]
    capable.sort(key=lambda operative: operative.id != visit.operative_id)

    for operative in capable:
        windows = _working_windows(operative, start, end, closed)
        working = any(opens <= start and end <= closes for opens, closes in windows)
        if working and slot_is_free(session, Slot(start, end, operative.id), exclude_visit=visit.id):
            return Slot(start, end, operative.id)
    return None


def _capable_operatives(session: Session, skill: str | None) -> list[Operative]:
    operatives = session.scalars(select(Operative).where(Operative.active.is_(True)).order_by(Operative.id)).all()
    return [o for o in operatives if not skill or skill in (o.skills or [])]


def _busy_periods(session, operative_id, start, end, exclude_visit=None) -> list[tuple[datetime, datetime]]:
    query = select(Visit.slot_start, Visit.slot_end).where(
        Visit.operative_id == operative_id,
        Visit.status.in_(OPEN_VISIT_STATUSES),
        Visit.slot_end > start,
        Visit.slot_start < end,
    )
    if exclude_visit is not None:
        query = query.where(Visit.id != exclude_visit)
    return [(row.slot_start, row.slot_end) for row in session.execute(query)]


def _working_windows(operative: Operative, start: datetime, end: datetime, closed: Container[date] = ()):
    """Each working day's hours between start and end, as aware UTC pairs (DST-safe).

    Days in `closed` (bank holidays) are skipped whatever the operative's pattern says.
    """
    day: date = start.astimezone(LONDON).date()
    last_day: date = end.astimezone(LONDON).date()
    hours = operative.working_hours or {}
    while day <= last_day:
        window = None if day in closed else hours.get(WEEKDAYS[day.weekday()])
        if window:
            opens = datetime.combine(day, time.fromisoformat(window[0]), LONDON).astimezone(start.tzinfo)
            closes = datetime.combine(day, time.fromisoformat(window[1]), LONDON).astimezone(start.tzinfo)
            if closes > start and opens < end:
                yield max(opens, start), min(closes, end)
        day += timedelta(days=1)


def _round_up(moment: datetime) -> datetime:
    """To the next half hour in London time, so offers read as 10:00 or 10:30."""
    local = moment.astimezone(LONDON)
    extra = (30 - local.minute % 30) % 30
    rounded = local.replace(second=0, microsecond=0) + timedelta(minutes=extra)
    if rounded < local:
        rounded += STEP
    return rounded.astimezone(moment.tzinfo)


def _overlaps(start, end, busy) -> bool:
    return any(start < busy_end and busy_start < end for busy_start, busy_end in busy)


def _spread(ranked: list[Slot], limit: int, length: timedelta) -> list[Slot]:
    """Prefer offers that do not overlap each other, so the tenant gets a real choice."""
    chosen: list[Slot] = []
    for slot in ranked:
        if all(not _overlaps(slot.start, slot.end, [(c.start, c.end)]) for c in chosen):
            chosen.append(slot)
        if len(chosen) == limit:
            break
    return sorted(chosen, key=lambda slot: slot.start)
