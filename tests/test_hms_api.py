"""The housing management system's API: the OpenAPI document, keys and scopes, checks, upserts and moves.

Every request a test sends and every answer it gets is checked against the
document served at /api/v1/openapi.json (openapi-core), so the document and
the API cannot drift apart. The clock is frozen on Monday 13 May 2024; visits
are the next week.
"""

from datetime import timedelta

import pytest
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from sqlalchemy import func, select
from werkzeug.test import EnvironBuilder

from service import api_keys
from store.db import transaction
from store.models import AccessCase, Reminder, Tenant, Visit, VisitEvent
from tests.factories import create_operative, create_tenant, london

NOW = london(2024, 5, 13, 9, 0)
TENANT = {"name": "Amara Okafor", "phone": "07700 900123", "language": "en"}
HOME = {"address_line1": "12 Larch Close", "town": "Leeds", "postcode": "ls62ab", "tenant_reference": "T-100"}
ENGINEER = {"name": "Priya Shah", "skills": ["gas"], "working_hours": {"mon": ["08:00", "17:00"]}}
SLOT = {"start": "2024-05-20T10:00:00+01:00", "end": "2024-05-20T11:00:00+01:00"}
VISIT = {
    "visit_type": "gas_safety_check",
    "tenant_reference": "T-100",
    "property_reference": "P-100",
    "slot": SLOT,
    "operative_reference": "OP-7",
}


@pytest.fixture
def frozen(runtime):
    runtime.clock = lambda: NOW
    return runtime


@pytest.fixture(scope="module")
def document(live_app):
    return live_app.test_client().get("/api/v1/openapi.json").get_json()


@pytest.fixture(scope="module")
def contract(document):
    return OpenAPI.from_dict(document)


def make_key(runtime, name, *scopes):
    with transaction(runtime.sessions) as session:
        return api_keys.create_key(session, name, list(scopes))


@pytest.fixture
def keys(frozen):
    return {
        "write": make_key(frozen, "Scheduler", "hms_write"),
        "read": make_key(frozen, "Reporting", "hms_read"),
        "operative": make_key(frozen, "Van 42", "operative_status"),
    }


class Api:
    """Sends requests as the HMS would, checking each request and answer against the OpenAPI document."""

    def __init__(self, client, contract, key):
        self.client, self.contract, self.key = client, contract, key

    def put(self, path, body, key=None, check_request=True):
        return self.send("PUT", path, body, key, check_request)

    def get(self, path, key=None):
        return self.send("GET", path, None, key, True)

    def send(self, method, path, body, key, check_request):
        headers = {"Authorization": f"Bearer {key or self.key}"}
        request = EnvironBuilder(path=f"/api/v1{path}", method=method, json=body, headers=headers).get_request()
        if check_request:
            self.contract.validate_request(WerkzeugOpenAPIRequest(request))
        answer = self.client.open(f"/api/v1{path}", method=method, json=body, headers=headers)
        self.contract.validate_response(WerkzeugOpenAPIRequest(request), WerkzeugOpenAPIResponse(answer))
        return answer


@pytest.fixture
def api(client, contract, keys):
    return Api(client, contract, keys["write"])


@pytest.fixture
def booked(api):
    """A tenant, their home, an operative and a visit, all sent by the HMS."""
    assert api.put("/hms/tenants/T-100", TENANT).status_code == 201
    assert api.put("/hms/properties/P-100", HOME).status_code == 201
    assert api.put("/hms/operatives/OP-7", ENGINEER).status_code == 201
    answer = api.put("/hms/visits/GAS-2001", VISIT)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def count(runtime, model) -> int:
    with transaction(runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(model))


def reminders_of(runtime, reference) -> dict[str, tuple]:
    with transaction(runtime.sessions) as session:
        rows = session.execute(
            select(Reminder.kind, Reminder.status, Reminder.due_at).join(Visit).where(Visit.reference == reference)
        )
        return {row.kind: (row.status, row.due_at) for row in rows}


def history(runtime, reference) -> list[tuple[str, str]]:
    with transaction(runtime.sessions) as session:
        rows = session.execute(
            select(VisitEvent.status, VisitEvent.actor)
            .join(Visit)
            .where(Visit.reference == reference)
            .order_by(VisitEvent.id)
        )
        return [(row.status, row.actor) for row in rows]


# The document.


def test_the_document_is_valid_openapi_and_describes_every_api_route(live_app, document):
    # OpenAPI.from_dict (the contract fixture) already refuses an invalid document; this checks coverage.
    documented = {(path, method) for path, methods in document["paths"].items() for method in methods}
    served = set()
    for rule in live_app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and rule.rule != "/api/v1/openapi.json":
            path = rule.rule.removeprefix("/api/v1").replace("<reference>", "{reference}")
            served |= {(path, method.lower()) for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == documented
    assert document["openapi"].startswith("3.1")
    assert "gas_safety_check" in document["components"]["schemas"]["VisitIn"]["properties"]["visit_type"]["enum"]
    assert "visitChanged" in document["webhooks"]


def test_the_document_needs_no_key(client):
    answer = client.get("/api/v1/openapi.json")
    assert answer.status_code == 200 and answer.get_json()["info"]["title"]


# Keys and scopes.


def test_each_call_needs_a_key_holding_its_scope(api, keys, booked):
    assert api.put("/hms/tenants/T-100", TENANT, key="taa_not-a-key").status_code == 401
    for key in (keys["read"], keys["operative"]):
        refused = api.put("/hms/tenants/T-100", TENANT, key=key)
        assert refused.status_code == 403 and "hms_write" in refused.get_json()["error"]
    for key in (keys["write"], keys["operative"]):
        assert api.get("/hms/visits/GAS-2001", key=key).status_code == 403
    assert api.get("/hms/visits/GAS-2001", key=keys["read"]).status_code == 200
    # The HMS's keys cannot report on the day, and an operative's key cannot read the HMS's view.
    assert api.get("/visits/GAS-2001", key=keys["read"]).status_code == 403


# Creating, reading back, upserting.


def test_the_hms_creates_a_tenant_home_operative_and_visit_and_reads_them_back(frozen, api, keys, booked):
    assert booked["status"] == "booked" and booked["case"] is None
    assert booked["slot"] == {"start": "2024-05-20T09:00:00+00:00", "end": "2024-05-20T10:00:00+00:00"}

    tenant = api.get("/hms/tenants/T-100", key=keys["read"]).get_json()
    assert tenant["phone"] == "+447700900123" and tenant["preferred_channel"] == "sms"
    assert tenant["phone_verified"] is False  # a number from another system is checked with the tenant first
    assert api.get("/hms/properties/P-100", key=keys["read"]).get_json()["postcode"] == "LS6 2AB"
    assert api.get("/hms/operatives/OP-7", key=keys["read"]).get_json()["skills"] == ["gas"]

    visit = api.get("/hms/visits/GAS-2001", key=keys["read"]).get_json()
    assert visit == booked
    # Creating the visit planned its reminders, as a booking made here would.
    planned = reminders_of(frozen, "GAS-2001")
    assert set(planned) == {"on_booking", "seven_days", "two_days", "evening_before"}
    assert all(status == "pending" for status, _ in planned.values())
    assert history(frozen, "GAS-2001") == [("booked", "hms:Scheduler")]


def test_sending_the_same_records_again_changes_nothing(frozen, api, booked):
    before = [count(frozen, model) for model in (Tenant, Visit, Reminder, VisitEvent)]
    assert api.put("/hms/tenants/T-100", TENANT).status_code == 200
    assert api.put("/hms/properties/P-100", HOME).status_code == 200
    assert api.put("/hms/operatives/OP-7", ENGINEER).status_code == 200
    again = api.put("/hms/visits/GAS-2001", VISIT)
    assert again.status_code == 200 and again.get_json() == booked
    assert [count(frozen, model) for model in (Tenant, Visit, Reminder, VisitEvent)] == before


def test_an_update_changes_what_it_sends_and_keeps_what_it_leaves_out(frozen, api, booked):
    with transaction(frozen.sessions) as session:
        session.scalar(select(Tenant).where(Tenant.reference == "T-100")).phone_verified_at = NOW
    api.put("/hms/tenants/T-100", {**TENANT, "language": "pt-BR", "whatsapp": True})
    same_number = api.put("/hms/tenants/T-100", {"name": "Amara Okafor-Bell", "phone": "+447700900123"}).get_json()
    assert same_number["language"] == "pt" and same_number["whatsapp"] is True  # left out: kept
    assert same_number["name"] == "Amara Okafor-Bell" and same_number["phone_verified"] is True

    new_number = api.put("/hms/tenants/T-100", {**TENANT, "phone": "07700 900124"}).get_json()
    assert new_number["phone"] == "+447700900124" and new_number["phone_verified"] is False


# Checks: a reason for each field.


@pytest.mark.parametrize(
    "path, body, field, reason",
    [
        ("/hms/tenants/T-1", {**TENANT, "phone": "01632 960123"}, "phone", "not a UK mobile"),
        ("/hms/tenants/T-1", {**TENANT, "phone": "hello"}, "phone", "'hello' is"),
        ("/hms/tenants/T-1", {**TENANT, "language": "xx"}, "language", "unknown language 'xx'"),
        ("/hms/tenants/T-1", {**TENANT, "language": "de"}, "language", "use one of en, cy"),
        (
            "/hms/tenants/T-1",
            {**TENANT, "phone": "07700 900777", "preferred_channel": "whatsapp"},
            "preferred_channel",
            "no WhatsApp",
        ),
        ("/hms/tenants/T-1", {"phone": "07700 900123"}, "name", "is required"),
        ("/hms/tenants/T-1", {**TENANT, "email": "a@example.org"}, "email", "not a field"),
        ("/hms/properties/P-1", {**HOME, "postcode": "LS6"}, "postcode", "not a full UK postcode"),
        ("/hms/operatives/OP-1", {**ENGINEER, "skills": ["plumbing"]}, "skills", "unknown skill plumbing"),
        ("/hms/operatives/OP-1", {**ENGINEER, "working_hours": {"mon": ["17:00", "08:00"]}}, "working_hours", "ends"),
        ("/hms/visits/V-1", {**VISIT, "visit_type": "boiler_swap"}, "visit_type", "unknown visit type"),
        ("/hms/visits/V-1", {**VISIT, "slot": {**SLOT, "end": SLOT["start"]}}, "slot.end", "after the start"),
        ("/hms/visits/V-1", {**VISIT, "slot": {**SLOT, "start": "2024-05-20T10:00:00"}}, "slot.start", "offset"),
        ("/hms/visits/V-1", {**VISIT, "slot": {**SLOT, "start": "next tuesday"}}, "slot.start", "datetime"),
        ("/hms/visits/V-1", {**VISIT, "slot": {**SLOT, "start": "2024-05-01T10:00:00Z"}}, "slot.start", "past"),
        ("/hms/visits/V 1", VISIT, "reference", "letters, digits"),
    ],
)
def test_a_body_we_cannot_use_is_refused_with_a_reason_for_the_field(api, booked, path, body, field, reason):
    answer = api.put(path, body, check_request=False)
    assert answer.status_code == 400, answer.get_json()
    assert reason in answer.get_json()["fields"][field]


def test_a_body_that_is_not_json_is_refused(api, booked):
    answer = api.client.put(
        "/api/v1/hms/tenants/T-1", data="name=Amara", headers={"Authorization": f"Bearer {api.key}"}
    )
    assert answer.status_code == 400 and "body" in answer.get_json()["fields"]


def test_references_we_do_not_have_are_422_and_reading_one_is_404(api, keys, booked):
    home = api.put("/hms/properties/P-2", {**HOME, "tenant_reference": "T-404"})
    assert home.status_code == 422 and "T-404" in home.get_json()["fields"]["tenant_reference"]

    visit = api.put("/hms/visits/V-2", {**VISIT, "tenant_reference": "T-404", "operative_reference": "OP-404"})
    assert visit.status_code == 422
    assert set(visit.get_json()["fields"]) == {"tenant_reference", "operative_reference"}

    assert api.get("/hms/visits/V-404", key=keys["read"]).status_code == 404
    assert api.get("/hms/tenants/T-404", key=keys["read"]).status_code == 404


def test_a_visit_to_another_tenants_home_or_by_an_operative_without_the_skill_is_422(api, booked):
    api.put("/hms/tenants/T-200", {**TENANT, "phone": "07700 900200"})
    elsewhere = api.put("/hms/visits/V-3", {**VISIT, "tenant_reference": "T-200"})
    assert (
        elsewhere.status_code == 422
        and "not tenant T-200's home" in elsewhere.get_json()["fields"]["property_reference"]
    )

    unskilled = api.put("/hms/visits/V-4", {**VISIT, "visit_type": "electrical_check"})
    assert (
        unskilled.status_code == 422 and "no electrical skill" in unskilled.get_json()["fields"]["operative_reference"]
    )


def test_a_phone_number_of_another_tenant_is_a_conflict(api, booked):
    answer = api.put("/hms/tenants/T-300", TENANT)
    assert answer.status_code == 409 and "belongs to tenant T-100" in answer.get_json()["fields"]["phone"]


def test_two_visits_for_one_operative_at_once_is_a_conflict(api, booked):
    clash = api.put(
        "/hms/visits/GAS-2002", {**VISIT, "slot": {"start": SLOT["start"], "end": "2024-05-20T12:00:00+01:00"}}
    )
    assert clash.status_code == 409 and "already has a visit" in clash.get_json()["fields"]["operative_reference"]


# Moving.


def test_a_new_slot_moves_the_visit_replans_its_reminders_and_tells_the_tenant_again(frozen, api, booked):
    with transaction(frozen.sessions) as session:
        visit = session.scalar(select(Visit).where(Visit.reference == "GAS-2001"))
        visit.status, visit.doorstep_code = "confirmed", "4821"
        notice = session.scalar(select(Reminder).where(Reminder.visit_id == visit.id, Reminder.kind == "on_booking"))
        notice.status, notice.sent_at = "sent", NOW  # the booking notice went out this morning

    later = {"start": "2024-05-22T14:00:00+01:00", "end": "2024-05-22T15:00:00+01:00"}
    answer = api.put("/hms/visits/GAS-2001", {**VISIT, "slot": later})
    assert answer.status_code == 200, answer.get_json()
    moved = answer.get_json()
    # The tenant has not said yes to the new time: booked again, not confirmed.
    assert moved["status"] == "booked" and moved["slot"]["start"] == "2024-05-22T13:00:00+00:00"
    assert history(frozen, "GAS-2001")[-1] == ("moved", "hms:Scheduler")

    planned = reminders_of(frozen, "GAS-2001")
    assert planned["on_booking"][0] == "pending"  # the tenant hears the new time at the next reminders run
    assert planned["evening_before"] == ("pending", london(2024, 5, 21, 18, 0))
    with transaction(frozen.sessions) as session:
        assert session.scalar(select(Visit.doorstep_code).where(Visit.reference == "GAS-2001")) is None


def test_a_new_operative_for_the_same_slot_is_a_reassignment_not_a_move(frozen, api, booked):
    api.put("/hms/operatives/OP-8", {**ENGINEER, "name": "Tomasz Nowak"})
    answer = api.put("/hms/visits/GAS-2001", {**VISIT, "operative_reference": "OP-8"})
    assert answer.status_code == 200 and answer.get_json()["operative_reference"] == "OP-8"
    assert history(frozen, "GAS-2001")[-1] == ("reassigned", "hms:Scheduler")


def test_a_closed_visit_cannot_be_moved(frozen, api, booked):
    with transaction(frozen.sessions) as session:
        session.scalar(select(Visit).where(Visit.reference == "GAS-2001")).status = "cancelled"
    later = {"start": "2024-05-22T14:00:00+01:00", "end": "2024-05-22T15:00:00+01:00"}
    answer = api.put("/hms/visits/GAS-2001", {**VISIT, "slot": later})
    assert answer.status_code == 409 and "cancelled" in answer.get_json()["fields"]["slot"]


# Reading status and the no-access case.


def test_the_visit_answer_carries_its_no_access_case(frozen, api, keys, booked):
    with transaction(frozen.sessions) as session:
        visit = session.scalar(select(Visit).where(Visit.reference == "GAS-2001"))
        session.add(
            AccessCase(
                tenant_id=visit.tenant_id,
                property_id=visit.property_id,
                visit_type="gas_safety_check",
                status="open",
                opened_at=NOW - timedelta(days=2),
            )
        )
    case = api.get("/hms/visits/GAS-2001", key=keys["read"]).get_json()["case"]
    assert case["status"] == "open" and case["visit_type"] == "gas_safety_check"
    assert case["counted_attempts"] == 0 and case["outcome"] is None


def test_the_operatives_endpoints_keep_to_the_document(frozen, client, contract, keys):
    create_operative(frozen)
    tenant = create_tenant(frozen)
    from tests.factories import create_visit

    create_visit(frozen, tenant, NOW + timedelta(hours=1), reference="GAS-3001", now=NOW - timedelta(days=10))
    operative = Api(client, contract, keys["operative"])
    report = operative.send("POST", "/visits/GAS-3001/status", {"status": "on_my_way", "eta": "09:40"}, None, True)
    assert report.status_code == 200, report.get_json()
    assert operative.get("/visits/GAS-3001").get_json()["operative_status"] == "on_my_way"
    assert operative.send("POST", "/visits/GAS-3001/status", {"status": "dancing"}, None, False).status_code == 400
