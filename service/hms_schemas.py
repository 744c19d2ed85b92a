"""What the housing management system (HMS) sends and gets back, as pydantic models.

The same models check the JSON API's bodies (service/hms_api.py) and the CSV
import's rows (service/csv_import.py), and make the OpenAPI document
(service/openapi.py). Checks that depend on config.yml (visit types, skills,
languages) read the settings from the validation context.
"""

import re
import unicodedata
from datetime import datetime, timezone
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from service import i18n, phones
from service.languages import configured_languages
from store.models import (
    CASE_OUTCOMES,
    CASE_STATUSES,
    CHANNELS,
    FINDING_KINDS,
    JOB_SOURCES,
    JOB_STATUSES,
    OPERATIVE_STATUSES,
    VISIT_STATUSES,
)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
REFERENCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
Reference = Annotated[str, StringConstraints(strip_whitespace=True, pattern=REFERENCE_PATTERN, max_length=64)]
VisitReference = Annotated[str, StringConstraints(strip_whitespace=True, pattern=REFERENCE_PATTERN, max_length=32)]


def _printable(value: str) -> str:
    """No control or invisible formatting characters (NUL, new lines, right-to-left overrides) in a name."""
    if any(unicodedata.category(character) in ("Cc", "Cf") for character in value):
        raise ValueError("must not contain control or invisible formatting characters")
    return value


Text200 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(_printable)
]
# A full UK postcode; the space is put back in its place ("ls62ab" -> "LS6 2AB").
POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})$")
CLOCK = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class Invalid(ValueError):
    """A body or row that cannot be used: what is wrong, field by field."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{name}: {reason}" for name, reason in fields.items()))
        self.fields = fields


def reference_problem(reference: str, longest: int = 64) -> str | None:
    """Why a reference (in a URL or a CSV cell) cannot be used, or None."""
    if not reference or len(reference) > longest or not re.fullmatch(REFERENCE_PATTERN, reference):
        return f"must be 1 to {longest} letters, digits, dots, dashes or underscores, starting with a letter or digit"
    return None


def read(model: type[BaseModel], data, settings) -> BaseModel:
    """`data` checked against `model`, or Invalid with a plain reason for each field."""
    try:
        return model.model_validate(data, context={"settings": settings})
    except ValidationError as error:
        raise Invalid(field_errors(error)) from error


def field_errors(error: ValidationError) -> dict[str, str]:
    fields = {}
    for problem in error.errors():
        name = ".".join(str(part) for part in problem["loc"]) or "body"
        fields.setdefault(name, _reason(problem))
    return fields


def _reason(problem: dict) -> str:
    if problem["type"] == "missing":
        return "is required"
    if problem["type"] == "extra_forbidden":
        return "is not a field this API knows"
    if problem["type"] == "string_pattern_mismatch":
        return "must be letters, digits, dots, dashes or underscores, starting with a letter or digit"
    if problem["type"] == "timezone_aware":
        return "must be an ISO-8601 date and time with its offset, e.g. 2026-12-05T10:00:00+00:00"
    if problem["type"] == "value_error":
        return str(problem["ctx"]["error"])
    return problem["msg"]


def _settings(info: ValidationInfo):
    return (info.context or {})["settings"]


def known_language(settings, code: str) -> str:
    """A language code from another system as one we speak ("pt-BR" -> "pt"); ValueError if we do not."""
    spoken = [language.code for language in configured_languages(settings)]
    asked = (code or "").strip().replace("-", "_")
    catalog = i18n.normalise_locale(asked)
    # normalise_locale falls back to English for anything it cannot place: here that is a mistake.
    fell_back = catalog == "en" and asked.split("_")[0].lower() != "en"
    if not asked or fell_back or catalog not in spoken:
        raise ValueError(f"unknown language {code!r}: use one of {', '.join(spoken)}")
    return catalog


def known_skills(settings) -> list[str]:
    return sorted({kind["skill"] for kind in settings.visit_types.values() if kind.get("skill")})


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Answer(BaseModel):
    # Documented as closed, so a contract test catches a field the document does not describe.
    model_config = ConfigDict(extra="forbid")


# What the HMS sends.


class TenantIn(Strict):
    """A tenant. Fields left out keep their current value (or the default, for a new tenant)."""

    name: Text200
    phone: str = Field(description="A mobile that can receive texts, in any UK form: 07700 900123, +44 7700 900123.")
    whatsapp: bool | None = Field(None, description="The tenant uses WhatsApp on this number. Default false.")
    language: str | None = Field(
        None, description="A language code (en, cy, pl, pt-BR...), mapped to the nearest one we speak. Default en."
    )
    preferred_channel: Literal[CHANNELS] | None = Field(None, description="sms or whatsapp. Default sms.")

    @field_validator("phone")
    @classmethod
    def _textable(cls, value: str) -> str:
        try:
            return phones.textable_number(value)
        except phones.InvalidPhoneNumber as error:
            raise ValueError(f"{value!r} is {error}") from error

    @field_validator("language")
    @classmethod
    def _spoken(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else known_language(_settings(info), value)


class PropertyIn(Strict):
    """A home, and who lives there."""

    address_line1: Text200
    address_line2: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    town: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    postcode: str = Field(description="A full UK postcode, e.g. LS6 2AB.")
    tenant_reference: Reference | None = Field(None, description="The tenant who lives there; null if it is empty.")

    @field_validator("postcode")
    @classmethod
    def _uk_postcode(cls, value: str) -> str:
        found = POSTCODE.match(" ".join(value.upper().split()))
        if not found:
            raise ValueError(f"{value!r} is not a full UK postcode")
        return f"{found.group(1)} {found.group(2)}"

    @field_validator("address_line2")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None


class OperativeIn(Strict):
    """An operative (engineer or contractor), what they can do and when they work."""

    name: Text200
    skills: list[str] = Field(default_factory=list, description="From the skills of config.yml's visit types.")
    working_hours: dict[str, list[str]] = Field(
        default_factory=dict,
        description='London times by weekday, e.g. {"mon": ["08:00", "17:00"]}; a day left out is a day off.',
    )
    active: bool = True

    @field_validator("skills")
    @classmethod
    def _known_skills(cls, value: list[str], info: ValidationInfo) -> list[str]:
        known = known_skills(_settings(info))
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise ValueError(f"unknown skill {', '.join(unknown)}: use {', '.join(known)}")
        return sorted(set(value))

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, hours in value.items():
            if day not in WEEKDAYS:
                raise ValueError(f"{day!r} is not a weekday: use {', '.join(WEEKDAYS)}")
            if len(hours) != 2 or not all(CLOCK.match(clock) for clock in hours):
                raise ValueError(f'{day} must be two times, e.g. ["08:00", "17:00"]')
            if hours[0] >= hours[1]:
                raise ValueError(f"{day} ends before it starts")
        return value


class SlotIn(Strict):
    start: AwareDatetime = Field(description="ISO-8601 with its offset, e.g. 2026-12-05T10:00:00Z.")
    end: AwareDatetime

    @field_validator("start", "end")
    @classmethod
    def _utc_and_in_order(cls, value: datetime, info: ValidationInfo) -> datetime:
        value = value.astimezone(timezone.utc)
        start = info.data.get("start")
        if info.field_name == "end" and start is not None and value <= start:
            raise ValueError("must be after the start")
        return value


class VisitIn(Strict):
    """A visit to a tenant's home. Creating one plans its reminders; a new slot moves it."""

    visit_type: str = Field(description="One of config.yml's visit types.")
    tenant_reference: Reference
    property_reference: Reference
    slot: SlotIn
    operative_reference: Reference | None = None

    @field_validator("visit_type")
    @classmethod
    def _known_type(cls, value: str, info: ValidationInfo) -> str:
        known = list(_settings(info).visit_types)
        if value not in known:
            raise ValueError(f"unknown visit type {value!r}: use one of {', '.join(known)}")
        return value


class JobIn(Strict):
    """Work pending at a home with no visit of its own yet; offered to the tenant as part of another visit there."""

    kind: str = Field(description="One of config.yml's visit types: its length and skill are used when it is offered.")
    property_reference: Reference
    status: Literal["open", "done"] = Field(
        "open", description="open: still to do. done: no longer needed. A job booked into a visit stays booked."
    )
    notes: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] | None = None
    due_by: AwareDatetime | None = Field(None, description="When it must be done by, ISO-8601 with its offset.")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str, info: ValidationInfo) -> str:
        known = list(_settings(info).visit_types)
        if value not in known:
            raise ValueError(f"unknown kind {value!r}: use one of {', '.join(known)}")
        return value

    @field_validator("due_by")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return value.astimezone(timezone.utc) if value else None


# What the HMS gets back.


class TenantOut(Answer):
    reference: str
    name: str
    phone: str = Field(description="E.164.")
    whatsapp: bool
    language: str
    preferred_channel: Literal[CHANNELS]
    phone_verified: bool = Field(description="The tenant has shown this number is theirs; a changed number is not.")
    sms_opted_out: bool
    whatsapp_opted_out: bool


class PropertyOut(Answer):
    reference: str
    address_line1: str
    address_line2: str | None
    town: str
    postcode: str
    tenant_reference: str | None


class OperativeOut(Answer):
    reference: str
    name: str
    skills: list[str]
    working_hours: dict[str, list[str]]
    active: bool


class SlotOut(Answer):
    start: datetime
    end: datetime


class CaseOut(Answer):
    """The tenant's no-access case for this kind of visit: the open one, else the latest closed one."""

    status: Literal[CASE_STATUSES]
    visit_type: str
    opened_at: datetime
    closed_at: datetime | None
    outcome: Literal[CASE_OUTCOMES] | None = Field(description="How a closed case ended.")
    counted_attempts: int = Field(description="Failed pre-booked attempts the policy counted towards the case.")


class VisitOut(Answer):
    reference: str
    visit_type: str
    status: Literal[VISIT_STATUSES]
    tenant_reference: str | None
    property_reference: str | None
    operative_reference: str | None
    slot: SlotOut
    operative_status: Literal[OPERATIVE_STATUSES] | None = Field(description="The day's progress, as reported.")
    missed_by_provider: bool = Field(description="We did not come in the slot: never the tenant's failed attempt.")
    case: CaseOut | None = Field(description="The no-access case, or null when there is none.")


class JobOut(Answer):
    reference: str
    kind: str
    property_reference: str
    status: Literal[JOB_STATUSES]
    source: Literal[JOB_SOURCES] = Field(description="hms, or operative_report for what an operative noticed.")
    notes: str | None
    due_by: datetime | None
    finding: Literal[FINDING_KINDS] | None = Field(description="What the operative reported, for operative_report.")
    visit_reference: str | None = Field(description="The visit it is booked into, once the tenant agreed.")


class Error(Answer):
    error: str
    fields: dict[str, str] | None = Field(None, description="What is wrong with each field, by its dotted name.")


# The operatives' API (service/api.py), described here so the document covers all of /api/v1.


class OperativeReportIn(BaseModel):
    status: Literal[OPERATIVE_STATUSES]
    eta: str | None = Field(None, description="Required for on_my_way and running_late: ISO-8601 or 10:40.")
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


class FindingIn(Strict):
    """Something the operative noticed at the home on this visit ("make every visit count")."""

    kind: Literal[FINDING_KINDS] = Field(
        description="damp, mould, disrepair or other become a job for the home; hoarding and safeguarding "
        "concerns go to a safeguarding officer."
    )
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
    photo_ref: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None


class FindingOut(Answer):
    visit_reference: str
    kind: Literal[FINDING_KINDS]
    recorded_as: Literal["job", "officer_task"]
    job_reference: str | None = Field(description="The job made for the home, or null for a task.")


class TenantReply(Answer):
    at: datetime
    kind: str
    summary: str
    text: str


class OperativeVisitOut(Answer):
    reference: str
    status: Literal[VISIT_STATUSES]
    operative_status: Literal[OPERATIVE_STATUSES] | None
    slot: SlotOut
    eta: datetime | None
    missed_by_provider: bool
    briefing: list[str] = Field(description="What to do at the door for this tenant's needs; never the need itself.")
    tenant_replies: list[TenantReply]
    tenant_texted: bool | None = Field(None, description="Only in the answer to a report.")


# What a webhook receives.


class WebhookVisit(Answer):
    reference: str
    visit_type: str
    status: Literal[VISIT_STATUSES]
    slot: SlotOut
    previous_slot_start: datetime | None = Field(description="For visit.moved: where the slot started before.")
    tenant_reference: str | None
    property_reference: str | None
    operative_reference: str | None
    missed_by_provider: bool


class WebhookEvent(Answer):
    """One change to a visit. Order events by occurred_at; an event may arrive twice, with the same id."""

    id: str
    type: Literal[
        "visit.confirmed",
        "visit.cancelled",
        "visit.moved",
        "visit.completed",
        "visit.no_access",
        "visit.missed_by_provider",
    ]
    occurred_at: datetime
    by: Literal["tenant", "assistant", "officer", "operative", "hms", "import", "system"]
    visit: WebhookVisit
