"""The console's insight pages: numbers checked against a small known data set, CSV downloads and who may see them."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from service import insight, operatives
from service.console.auth import throttle
from store.db import transaction
from store.models import (
    AccessAttempt,
    AccessCase,
    AuditEntry,
    Reminder,
    Tenant,
    Visit,
    VisitEvent,
    VisitFeedback,
    VisitReason,
)
from tests.console_factories import page, record_need, signed_in_client
from tests.factories import create_operative, create_tenant, create_visit, london

NOW = london(2024, 5, 14, 12, 0)


@pytest.fixture
def known(runtime):
    """Two tenants, four visits, one failed attempt, one miss by us, reasons and answers: numbers we can count."""
    throttle.forget()
    runtime.clock = lambda: NOW
    create_operative(runtime)
    amara = create_tenant(runtime)
    jan = create_tenant(runtime, phone="+447700900124", name="Jan Nowak", language="pl", whatsapp=True)

    # Amara's gas check, done 11 months and 10 days ago: its certificate runs out within 30 days.
    done = create_visit(runtime, amara, NOW - timedelta(days=345), reference="GAS-1", status="completed", plan=False)
    cancelled = create_visit(
        runtime, amara, NOW + timedelta(days=5), visit_type="repair", reference="REP-1", plan=False
    )
    # Jan's gas check, done 10 months and 15 days ago: within 60 days.
    jans = create_visit(runtime, jan, NOW - timedelta(days=320), reference="GAS-2", status="completed", plan=False)
    moved = create_visit(runtime, jan, NOW + timedelta(days=3), reference="GAS-3", plan=False)

    with transaction(runtime.sessions) as session:
        created = {visit_id: session.get(Visit, visit_id).created_at for visit_id in (done.id, moved.id)}
        session.add(
            VisitEvent(
                visit_id=done.id, status="confirmed", actor="tenant", at=created[done.id] + timedelta(minutes=30)
            )
        )
        session.add(VisitEvent(visit_id=moved.id, status="moved", actor="tenant"))
        session.add(
            VisitEvent(visit_id=moved.id, status="confirmed", actor="tenant", at=created[moved.id] + timedelta(days=2))
        )
        session.get(Visit, cancelled.id).status = "cancelled"
        session.add(VisitEvent(visit_id=cancelled.id, status="cancelled", actor="tenant"))
        session.add(VisitEvent(visit_id=cancelled.id, status=operatives.MISSED, actor="system"))
        session.add(Reminder(visit_id=moved.id, kind="seven_days", due_at=NOW, status="sent", sent_at=NOW))

        slot = session.get(Visit, done.id)
        session.add(
            AccessAttempt(
                visit_id=done.id, tenant_id=amara.id, visit_type="gas_safety_check", slot_start=slot.slot_start,
                slot_end=slot.slot_end, at=slot.slot_start, reported_by="operative:Van7", prebooked=True,
                notified_in_writing=True, counted=True,
            )
        )  # fmt: skip
        session.add(
            AccessCase(
                tenant_id=amara.id, property_id=slot.property_id, visit_type="gas_safety_check", opened_at=NOW
            )
        )  # fmt: skip
        for tenant_id, visit_id, category, words, status in (
            (amara.id, done.id, "at_work", "at work", "no_access"),
            (jan.id, moved.id, "at_work", "night shift", "booked"),
            (jan.id, moved.id, "caring", "school run", "booked"),
        ):
            session.add(
                VisitReason(tenant_id=tenant_id, visit_id=visit_id, category=category, words=words, visit_status=status)
            )
        for visit_id, tenant_id, score, words, answered in (
            (done.id, amara.id, 5, None, True),
            (jans.id, jan.id, 3, "a bit late", True),
            (moved.id, jan.id, None, None, False),
        ):
            session.add(
                VisitFeedback(
                    visit_id=visit_id, tenant_id=tenant_id, asked_at=NOW, score=score, words=words,
                    answered_at=NOW if answered else None,
                )
            )  # fmt: skip
        # Contact data: a landline, and a tenant with no number at all.
        session.add(Tenant(name="Lee Landline", phone="+441632960001", reference="T-LAND"))
        session.add(Tenant(name="Nia Nonumber", phone="", reference="T-NONE"))
    return runtime


def table(runtime, key, role="specialist"):
    with transaction(runtime.sessions) as session:
        return next(found for found in insight.all_tables(session, role, NOW) if found.key == key)


def test_rates_by_visit_type_language_channel_and_reminder_step(known):
    assert table(known, "rates_by_visit_type").rows == [
        # visits, confirmed %, moved %, cancelled %, no access %
        ["gas_safety_check", 3, 66.7, 33.3, 0.0, 33.3],
        ["repair", 1, 0.0, 0.0, 100.0, 0.0],
    ]
    assert table(known, "rates_by_language").rows == [["en", 2, 50.0, 0.0, 50.0, 50.0], ["pl", 2, 50.0, 50.0, 0.0, 0.0]]
    assert table(known, "rates_by_channel").rows == [
        ["sms", 2, 50.0, 0.0, 50.0, 50.0],
        ["whatsapp", 2, 50.0, 50.0, 0.0, 0.0],
    ]
    assert table(known, "rates_by_reminder_step").rows == [["seven_days", 1, 100.0, 100.0, 0.0, 0.0]]


def test_attempts_time_to_confirm_reasons_misses_and_satisfaction(known):
    assert table(known, "attempts_per_completed_visit").rows == [["0", 1], ["1", 1], ["average", 0.5]]
    confirmed = dict(table(known, "time_to_confirm").rows)
    assert (confirmed["within 1 hour"], confirmed["within 3 days"], sum(confirmed.values())) == (1, 1, 2)
    assert table(known, "reasons").rows == [["At work", 2, 1], ["Caring for someone", 1, 0]]
    assert table(known, "provider_misses").rows == [["repair", 1]]
    scores = [["1", 0], ["2", 0], ["3", 1], ["4", 0], ["5", 1]]
    others = [["words only", 0], ["not answered", 1], ["average score", 4.0]]
    assert table(known, "satisfaction").rows == [*scores, *others]


def test_certificates_expiring_within_30_and_60_days_with_the_open_case_that_threatens_one(known):
    rows = table(known, "expiring_certificates").rows
    assert [(row[2], row[5], row[6].startswith("case ")) for row in rows] == [
        ("Amara Okafor", "30 days", True),
        ("Jan Nowak", "60 days", False),
    ]
    assert rows[0][4] == (NOW - timedelta(days=345)).date().replace(year=2024).isoformat()


def test_contact_data_quality_lists_missing_and_invalid_numbers(known):
    problems = {row[1]: row[2] for row in table(known, "contact_quality").rows}
    assert problems == {"Lee Landline": "invalid number (cannot get texts)", "Nia Nonumber": "missing number"}
    summary = dict(table(known, "contact_summary").rows)
    assert summary["missing number"] == 1 and summary["invalid number (cannot get texts)"] == 1
    assert summary["number not checked yet"] == 2


def test_a_tenant_only_safeguarding_may_see_is_left_out_of_the_lists(known):
    amara = next(t for t in _tenants(known) if t.name == "Amara Okafor")
    record_need(known, amara, "discreet", "my partner checks my phone")
    assert [row[2] for row in table(known, "expiring_certificates").rows] == ["Jan Nowak"]


def _tenants(runtime):
    with transaction(runtime.sessions) as session:
        return list(session.scalars(select(Tenant)))


# The pages.


def test_specialists_and_admins_see_charts_and_tables_and_officers_are_refused(known, live_app):
    specialist = signed_in_client(live_app, known, "specialist", "robin.hale@example.org", "Robin Hale")
    shown = page(specialist, "/console/insight")
    assert shown.count("<svg") >= 8 and "<script" not in shown and "Jan Nowak" in shown
    assert 'href="/console/insight"' in page(specialist, "/console/")
    admin = signed_in_client(live_app, known, "admin", "ada.admin@example.org", "Ada Admin")
    assert admin.get("/console/insight").status_code == 200

    for role, email in (("officer", "sam.patel@example.org"), ("safeguarding", "kim.reid@example.org")):
        client = signed_in_client(live_app, known, role, email, role.title())
        assert client.get("/console/insight").status_code == 403, role
        assert client.get("/console/insight/reasons.csv").status_code == 403, role
        assert 'href="/console/insight"' not in page(client, "/console/")
    assert specialist.get("/console/insight/no_such_table.csv").status_code == 404


def test_each_table_downloads_as_csv_and_the_download_is_audited(known, live_app):
    specialist = signed_in_client(live_app, known, "specialist", "robin.hale@example.org", "Robin Hale")
    answer = specialist.get("/console/insight/reasons.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert 'filename="reasons.csv"' in answer.headers["Content-Disposition"]
    body = answer.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    assert body.decode("utf-8-sig").splitlines() == [
        "reason,all,for a missed visit",
        "At work,2,1",
        "Caring for someone,1,0",
    ]

    rates = specialist.get("/console/insight/rates_by_visit_type.csv").get_data().decode("utf-8-sig").splitlines()
    assert rates[0] == "visit type,visits,confirmed %,moved %,cancelled %,no access %"
    assert rates[2] == "repair,1,0.0,0.0,100.0,0.0"
    with transaction(known.sessions) as session:
        details = [
            entry.detail
            for entry in session.scalars(select(AuditEntry).where(AuditEntry.action == "downloaded_insight"))
        ]
    assert details == [{"table": "reasons"}, {"table": "rates_by_visit_type"}]
