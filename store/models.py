"""The tables: tenants, homes, visits, operatives, conversations and every message."""

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    column,
    false,
    func,
    or_,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from store.types import UTCDateTime, utcnow

VISIT_STATUSES = ("booked", "confirmed", "cancelled", "moved", "completed", "no_access")
OPEN_VISIT_STATUSES = ("booked", "confirmed")
# What an operative (or their scheduling system) reports on the day; see service/operatives.py.
OPERATIVE_STATUSES = ("on_my_way", "running_late", "arrived", "finished", "no_access")
CHANNELS = ("sms", "whatsapp")


class Base(DeclarativeBase):
    pass


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(20), unique=True)  # E.164
    whatsapp: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str] = mapped_column(String(16), default="en")
    preferred_channel: Mapped[str] = mapped_column(String(16), default="sms")
    sms_opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    whatsapp_opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    # When this phone number was shown to be the tenant's (by the tenant answering a
    # check, or by the provider). Until then no visit detail is sent to it.
    phone_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The assistant asks once what would make visits easier; this says it has.
    needs_asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    properties: Mapped[list["Property"]] = relationship(back_populates="tenant")
    visits: Mapped[list["Visit"]] = relationship(back_populates="tenant")


class Property(Base):
    __tablename__ = "properties"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(64), unique=True)
    address_line1: Mapped[str] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    town: Mapped[str] = mapped_column(String(100))
    postcode: Mapped[str] = mapped_column(String(12))
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"))

    tenant: Mapped[Tenant | None] = relationship(back_populates="properties")


class Operative(Base):
    __tablename__ = "operatives"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The provider's own reference (from its housing management system), for upserts.
    reference: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    skills: Mapped[list] = mapped_column(JSON, default=list)
    # {"mon": ["08:00", "17:00"], ...}; a missing day is a day off.
    working_hours: Mapped[dict] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name else ""


class Visit(Base):
    __tablename__ = "visits"
    __table_args__ = (Index("ix_visits_operative_slot", "operative_id", "slot_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    visit_type: Mapped[str] = mapped_column(String(40))
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    property_id: Mapped[int] = mapped_column(ForeignKey("properties.id"))
    operative_id: Mapped[int | None] = mapped_column(ForeignKey("operatives.id"))
    slot_start: Mapped[datetime] = mapped_column(UTCDateTime)
    slot_end: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="booked")
    # Said by the operative at the door so the tenant knows it is really us; new for each slot.
    doorstep_code: Mapped[str | None] = mapped_column(String(8))
    # The day itself, as the operative reports it (one of OPERATIVE_STATUSES). Progress
    # markers live here; `status` keeps the booking's own vocabulary.
    operative_status: Mapped[str | None] = mapped_column(String(20))
    eta: Mapped[datetime | None] = mapped_column(UTCDateTime)
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The secret in the tenant's tracking link (/track/<token>), made when the operative sets off.
    tracking_token: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    # We did not come in the slot: never the tenant's failure. Cleared when the visit moves.
    missed_by_provider_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    tenant: Mapped[Tenant] = relationship(back_populates="visits")
    home: Mapped[Property] = relationship()
    operative: Mapped[Operative | None] = relationship()
    history: Mapped[list["VisitEvent"]] = relationship(back_populates="visit", order_by="VisitEvent.id")
    reminders: Mapped[list["Reminder"]] = relationship(back_populates="visit")

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_VISIT_STATUSES


class VisitEvent(Base):
    """One step of a visit's status history, with who made it and why."""

    __tablename__ = "visit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(40))  # tenant, assistant, officer:<id>, system
    note: Mapped[str | None] = mapped_column(Text)
    old_slot_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    new_slot_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    visit: Mapped[Visit] = relationship(back_populates="history")


class Reminder(Base):
    """A message planned for a visit, stored so it survives restarts."""

    __tablename__ = "reminders"
    __table_args__ = (UniqueConstraint("visit_id", "kind", name="uq_reminder_visit_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending, sent, skipped
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))

    visit: Mapped[Visit] = relationship(back_populates="reminders")


class Conversation(Base):
    """One tenant (or unknown number) on one channel.

    The assistant's pending question lives here, in our own store, so a late
    "yes" still finds the visit it answers after Rasa's session has expired.
    """

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("address", "channel", name="uq_conversation_address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(20))  # E.164, without the whatsapp: prefix
    channel: Mapped[str] = mapped_column(String(16))
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    state: Mapped[dict] = mapped_column(JSON, default=dict)
    # assistant: the bot answers. queued: waiting for an officer. officer: an officer has it.
    owner: Mapped[str] = mapped_column(String(20), default="assistant")
    handoff_reason: Mapped[str | None] = mapped_column(String(40))
    handoff_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Urgent handoffs go to the top of the officers' queue.
    handoff_urgent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    assigned_officer_id: Mapped[int | None] = mapped_column(Integer)
    # The one "an officer will reply" message per handoff has gone out.
    holding_sent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    tenant: Mapped[Tenant | None] = relationship()

    @property
    def rasa_sender_id(self) -> str:
        # Opaque on purpose: Rasa's tracker store never sees a phone number.
        return f"conversation-{self.id}"


class Message(Base):
    """Every message in or out, kept before anything else happens to it."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation_state", "conversation_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    direction: Mapped[str] = mapped_column(String(8))  # inbound, outbound
    channel: Mapped[str] = mapped_column(String(16))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    from_address: Mapped[str] = mapped_column(String(64))
    to_address: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text, default="")
    media: Mapped[list] = mapped_column(JSON, default=list)
    raw: Mapped[dict] = mapped_column(JSON, default=dict)
    twilio_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Outbound: Twilio's delivery status. Inbound: "received".
    status: Mapped[str] = mapped_column(String(20))
    error_code: Mapped[str | None] = mapped_column(String(16))
    # Our own processing: inbound received -> done; outbound pending -> sending -> handed_over.
    state: Mapped[str] = mapped_column(String(20))
    template_key: Mapped[str | None] = mapped_column(String(80))
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OfficerTask(Base):
    """Something a person at the provider needs to pick up."""

    __tablename__ = "officer_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="open")
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    tenant: Mapped[Tenant | None] = relationship()


class Adjustment(Base):
    """Something a tenant needs for visits to work, in their own words, and what we do about it.

    Health, disability and safeguarding needs are special-category data: the
    database refuses one without a recorded consent. Restricted rows (discreet
    contact for domestic-abuse reasons) are shown only to safeguarding officers.
    """

    __tablename__ = "adjustments"
    __table_args__ = (
        CheckConstraint(
            "special_category = false OR consent_at IS NOT NULL", name="ck_adjustments_special_category_consent"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text, default="")  # the tenant's own words
    # Kind-specific choices, e.g. discreet contact's safe hours, channel and exit word.
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    special_category: Mapped[bool] = mapped_column(Boolean, default=False)
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_how: Mapped[str | None] = mapped_column(String(80))
    recorded_by: Mapped[str] = mapped_column(String(40))  # assistant, officer:<id>
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


OFFICER_ROLES = ("officer", "safeguarding", "specialist", "admin")


class Officer(Base):
    """A person at the provider who signs in to the console."""

    __tablename__ = "officers"
    __table_args__ = (CheckConstraint(column("role").in_(OFFICER_ROLES), name="ck_officers_role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # kept lower-case
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))  # werkzeug.security, never the password
    # Sessions signed in before this moment are over (set at sign-out); None: none ended yet.
    sessions_valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    role: Mapped[str] = mapped_column(String(20), default="officer", server_default="officer")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=func.now())


class AuditEntry(Base):
    """One thing an officer did in the console: who, what, to which record, and when."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id"), index=True)
    action: Mapped[str] = mapped_column(String(40))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    # Ids and choices only: message text stays in messages, where erasure can find it.
    detail: Mapped[dict] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=func.now())

    officer: Mapped[Officer] = relationship()


class ApiKey(Base):
    """A key that lets an operative's app or scheduling system call /api/v1, within its scopes.

    Only the key's SHA-256 is stored: the key itself is shown once, when it is made.
    """

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Short: visit history names the caller as "operative:<name>".
    name: Mapped[str] = mapped_column(String(30), unique=True)
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=func.now())


class WebhookDelivery(Base):
    """One visit event for one webhook address: stored with the change, sent later by the webhook sender.

    The body is kept exactly as it will be sent, so every retry carries the same
    bytes and the same event id; it is signed when sent, with the secret of the day.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "url", name="uq_webhook_deliveries_event_url"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(40))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending, delivered
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A sender holds the delivery until then; one that died mid-send lets it go again.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ImportJob(Base):
    """A CSV file loaded from the console: its progress, its counts and every row it could not load."""

    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # tenants, visits
    filename: Mapped[str] = mapped_column(String(200))
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    status: Mapped[str] = mapped_column(String(20), default="running")  # running, done, failed
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    created_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_count: Mapped[int] = mapped_column(Integer, default=0)
    unchanged_count: Mapped[int] = mapped_column(Integer, default=0)
    # [{"row": 3, "reference": "T-1", "column": "phone", "reason": "..."}], in row order.
    errors: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# No-access cases (see service/no_access.py and config.yml `no_access_policy:`).
CASE_STATUSES = ("open", "closed")
# A case is closed only with one of these, so every closed case says how it ended.
CASE_OUTCOMES = ("access_gained", "visit_completed", "legal_referral", "tenant_moved", "other")
CASE_ACTION_KINDS = ("note", "phone_call", "letter_sent", "home_visit", "joint_visit", "referral")


class AccessCase(Base):
    """A tenant and visit type the policy's number of counted failed attempts has sent to the specialist team."""

    __tablename__ = "access_cases"
    __table_args__ = (
        CheckConstraint(column("status").in_(CASE_STATUSES), name="ck_access_cases_status"),
        # The database itself refuses a closed case without an outcome.
        CheckConstraint(
            "status = 'open' OR (outcome IS NOT NULL AND closed_at IS NOT NULL)", name="ck_access_cases_outcome"
        ),
        CheckConstraint(
            or_(column("outcome").is_(None), column("outcome").in_(CASE_OUTCOMES)), name="ck_access_cases_outcomes"
        ),
        # One open case per tenant and visit type, however many attempts race to open it.
        Index(
            "uq_access_cases_open",
            "tenant_id",
            "visit_type",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    property_id: Mapped[int] = mapped_column(ForeignKey("properties.id"))
    visit_type: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="open")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(30))
    outcome_note: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))

    tenant: Mapped[Tenant] = relationship()
    home: Mapped[Property] = relationship()
    attempts: Mapped[list["AccessAttempt"]] = relationship(back_populates="case", order_by="AccessAttempt.id")
    actions: Mapped[list["AccessCaseAction"]] = relationship(order_by="AccessCaseAction.id")


class AccessAttempt(Base):
    """An operative at the door in the slot who could not get in: what they saw, and what the policy made of it.

    The slot, tenant and visit type are copied here because a visit row moves on
    (a rebooked visit keeps its reference); the attempt is about the slot it was.
    """

    __tablename__ = "access_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    visit_type: Mapped[str] = mapped_column(String(40))
    slot_start: Mapped[datetime] = mapped_column(UTCDateTime)
    slot_end: Mapped[datetime] = mapped_column(UTCDateTime)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    reported_by: Mapped[str] = mapped_column(String(40))  # operative:<api key name>
    note: Mapped[str | None] = mapped_column(Text)
    photo_ref: Mapped[str | None] = mapped_column(String(500))
    card_left: Mapped[bool | None] = mapped_column(Boolean)  # None: the operative did not say
    # Agreed with the tenant or notified in advance; notified in writing early enough (see the policy).
    prebooked: Mapped[bool] = mapped_column(Boolean)
    notified_in_writing: Mapped[bool] = mapped_column(Boolean)
    # In English, for the evidence record: what made it pre-booked and notified, or why it was not.
    notice: Mapped[str] = mapped_column(Text, default="")
    counted: Mapped[bool] = mapped_column(Boolean)
    # The counted attempt's number towards a case, and the follow-up wording it led to.
    number: Mapped[int | None] = mapped_column(Integer)
    stage: Mapped[str | None] = mapped_column(String(20))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("access_cases.id"), index=True)
    # waiting (for a safe time to text), sent, not_sent (see follow_up_note).
    follow_up_status: Mapped[str] = mapped_column(String(20), default="waiting")
    follow_up_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    follow_up_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    follow_up_note: Mapped[str | None] = mapped_column(Text)

    visit: Mapped[Visit] = relationship()
    case: Mapped[AccessCase | None] = relationship(back_populates="attempts")


class AccessCaseAction(Base):
    """Something an officer did about a case (a call, a letter, a note), in their words."""

    __tablename__ = "access_case_actions"
    __table_args__ = (CheckConstraint(column("kind").in_(CASE_ACTION_KINDS), name="ck_access_case_actions_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("access_cases.id"), index=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id"))
    kind: Mapped[str] = mapped_column(String(30))
    note: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    officer: Mapped[Officer] = relationship()


# Why a visit does not suit, and how a finished one went (see service/reasons.py and service/satisfaction.py).
REASON_CATEGORIES = (
    "at_work",
    "unwell",
    "caring",
    "forgot",
    "did_not_know",
    "afraid",
    "cannot_reach_door",
    "other",
)


class VisitReason(Base):
    """Why a tenant says a visit does not suit or was missed: a category, and their own words.

    The words are personal (health, caring, fear): shown to officers, never logged.
    """

    __tablename__ = "visit_reasons"
    __table_args__ = (CheckConstraint(column("category").in_(REASON_CATEGORIES), name="ck_visit_reasons_category"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    category: Mapped[str] = mapped_column(String(30))
    words: Mapped[str] = mapped_column(Text, default="")
    # The visit's status when the tenant said it: open (does not suit) or no_access (missed).
    visit_status: Mapped[str | None] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class VisitFeedback(Base):
    """The one "how did your visit go?" question after a completed visit, and the tenant's answer."""

    __tablename__ = "visit_feedback"
    __table_args__ = (
        UniqueConstraint("visit_id", name="uq_visit_feedback_visit"),
        CheckConstraint("score IS NULL OR (score >= 1 AND score <= 5)", name="ck_visit_feedback_score"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"))
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    question_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    score: Mapped[int | None] = mapped_column(Integer)
    words: Mapped[str | None] = mapped_column(Text)
    answer_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


JOB_STATUSES = ("open", "booked", "done")
JOB_SOURCES = ("hms", "operative_report")
# What an operative may report having noticed on any visit ("make every visit count").
FINDING_KINDS = ("damp", "mould", "disrepair", "hoarding", "safeguarding", "other")


class Job(Base):
    """Work pending at a home that has no visit of its own yet: a check due, a repair, a survey.

    `kind` is one of config.yml's visit types, so its length and skill are known
    when it is offered as part of another visit. A job booked into a visit keeps
    that visit in `visit_id`; one an operative reported keeps the visit they saw it on.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(column("status").in_(JOB_STATUSES), name="ck_jobs_status"),
        CheckConstraint(column("source").in_(JOB_SOURCES), name="ck_jobs_source"),
        Index("ix_jobs_property_status", "property_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    property_id: Mapped[int] = mapped_column(ForeignKey("properties.id"))
    kind: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="open")
    source: Mapped[str] = mapped_column(String(20), default="hms")
    notes: Mapped[str | None] = mapped_column(Text)
    due_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # For a job an operative reported: what they saw (one of FINDING_KINDS), their photo, and on which visit.
    finding: Mapped[str | None] = mapped_column(String(20))
    photo_ref: Mapped[str | None] = mapped_column(String(200))
    reported_on_visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    home: Mapped[Property] = relationship()
    visit: Mapped[Visit | None] = relationship(foreign_keys=[visit_id])
