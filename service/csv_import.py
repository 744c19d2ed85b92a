"""Bulk loads from CSV: tenants with their homes, or visits, upserted by the provider's references.

Every row is checked as the HMS API checks a body (service/hms_schemas.py) and
stored by the same upserts (service/hms.py), each in its own savepoint: a good
row loads, a bad row is reported with its row number, column and reason, and
nothing is left out without saying so. Loading the same file again changes
nothing. Row 1 is the header; the first tenant or visit is row 2.

tenants: tenant_reference, name, phone, whatsapp, language, preferred_channel,
         property_reference, address_line1, address_line2, town, postcode
visits:  visit_reference, visit_type, tenant_reference, property_reference,
         slot_start, slot_end, operative_reference
"""

import csv
import io
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import IntegrityError

from service import hms
from service.hms_schemas import Invalid, PropertyIn, TenantIn, VisitIn, read, reference_problem
from service.spreadsheets import safe_cell
from store.db import transaction

TENANT_COLUMNS = (
    "tenant_reference",
    "name",
    "phone",
    "whatsapp",
    "language",
    "preferred_channel",
    "property_reference",
    "address_line1",
    "address_line2",
    "town",
    "postcode",
)
VISIT_COLUMNS = (
    "visit_reference",
    "visit_type",
    "tenant_reference",
    "property_reference",
    "slot_start",
    "slot_end",
    "operative_reference",
)
PROPERTY_COLUMNS = ("address_line1", "address_line2", "town", "postcode")
REQUIRED = {
    "tenants": ("tenant_reference", "name", "phone"),
    "visits": ("visit_reference", "visit_type", "tenant_reference", "property_reference", "slot_start", "slot_end"),
}
COLUMNS = {"tenants": TENANT_COLUMNS, "visits": VISIT_COLUMNS}
REPORT_COLUMNS = ("row", "reference", "column", "reason")
# Rows stored per transaction; progress is reported after each batch.
BATCH = 100


class FileProblem(ValueError):
    """The file as a whole cannot be read: not UTF-8, no header, columns we do not know."""


@dataclass
class RowError:
    row: int
    reference: str
    column: str
    reason: str

    def as_dict(self) -> dict:
        return {"row": self.row, "reference": self.reference, "column": self.column, "reason": self.reason}

    def describe(self) -> str:
        where = " ".join(part for part in (f"row {self.row}", self.reference, self.column) if part)
        return f"{where}: {self.reason}"


@dataclass
class Result:
    total: int = 0
    processed: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def rejected_rows(self) -> int:
        return len({error.row for error in self.errors})


Progress = Callable[[Result], None]


# Reading the file.


def decode(raw: bytes) -> str:
    try:
        # utf-8-sig: spreadsheets often start a CSV with a byte-order mark.
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise FileProblem("the file is not UTF-8 text: save it from the spreadsheet as 'CSV UTF-8'") from error


def read_rows(kind: str, text: str) -> list[tuple[int, dict]]:
    """(row number, {column: value}) for every data row; FileProblem if the header is wrong."""
    reader = csv.reader(io.StringIO(text))
    try:
        return _rows(kind, reader)
    except csv.Error as problem:
        # An unclosed quote or a stray carriage return: say where, rather than fail the upload.
        raise FileProblem(f"the file cannot be read as CSV near line {reader.line_num}: {problem}") from problem


def _rows(kind: str, reader) -> list[tuple[int, dict]]:
    header = next(reader, None)
    if not header or not any(cell.strip() for cell in header):
        raise FileProblem("the file is empty: the first row must name the columns")
    header = [cell.strip().lower() for cell in header]
    unknown = [name for name in header if name not in COLUMNS[kind]]
    missing = [name for name in REQUIRED[kind] if name not in header]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if unknown or missing or duplicated:
        raise FileProblem(_header_problem(kind, unknown, missing, duplicated))

    rows = []
    for number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue  # a blank line between rows is not a row
        values = {name: (cells[index].strip() if index < len(cells) else "") for index, name in enumerate(header)}
        if len(cells) > len(header):
            values["__extra__"] = str(len(cells) - len(header))
        rows.append((number, values))
    return rows


def _header_problem(kind: str, unknown: list, missing: list, duplicated: list) -> str:
    parts = []
    if missing:
        parts.append(f"missing column {', '.join(missing)}")
    if unknown:
        parts.append(f"unknown column {', '.join(unknown)}")
    if duplicated:
        parts.append(f"column named twice: {', '.join(duplicated)}")
    return f"{'; '.join(parts)}. A {kind} file has the columns: {', '.join(COLUMNS[kind])}"


# Loading.


def run_import(runtime, kind: str, text: str, actor: str, progress: Progress | None = None) -> Result:
    """Check and store every row of `text`; FileProblem if the file cannot be read at all."""
    if kind not in COLUMNS:
        raise FileProblem(f"unknown kind {kind!r}: use tenants or visits")
    rows = read_rows(kind, text)
    loader = Loader(kind, runtime.settings, Result(total=len(rows)))
    for start in range(0, len(rows), BATCH):
        change = hms.Change(actor=actor, settings=runtime.settings, now=runtime.clock())
        with transaction(runtime.sessions) as session:
            for number, values in rows[start : start + BATCH]:
                loader.load(session, number, values, change)
        if progress:
            progress(loader.result)
    return loader.result


class Loader:
    """Loads one file's rows in order, remembering what earlier rows used so duplicates are caught."""

    def __init__(self, kind: str, settings, result: Result):
        self.kind, self.settings, self.result = kind, settings, result
        self.key_column = "tenant_reference" if kind == "tenants" else "visit_reference"
        self.first_row_of: dict[str, int] = {}
        self.phone_rows: dict[str, tuple[int, str]] = {}
        self.home_rows: dict[str, int] = {}

    def load(self, session, number: int, values: dict, change: hms.Change) -> None:
        self.result.processed += 1
        reference = values.get(self.key_column, "")
        try:
            models = self._checked(number, values)
            outcome = self._store(session, values, models, change)
        except (Invalid, hms.UnknownReference, hms.Conflict) as problem:
            self._report(number, reference, problem.fields)
            return
        setattr(self.result, outcome, getattr(self.result, outcome) + 1)

    def _checked(self, number: int, values: dict) -> tuple:
        """The row's models, or Invalid naming each problem: duplicates of earlier rows, then the row's own."""
        if "__extra__" in values:
            raise Invalid({"": f"has {values['__extra__']} more cells than the header names"})
        problems = self._reference_problems(values)
        reference = values.get(self.key_column, "")
        if self.key_column not in problems:
            first = self.first_row_of.setdefault(reference, number)
            if first != number:
                raise Invalid({self.key_column: f"{reference} is also on row {first}: a reference goes in once"})
        try:
            models = self._models(values)
        except Invalid as invalid:
            raise Invalid({**invalid.fields, **problems}) from invalid
        if problems:
            raise Invalid(problems)

        if self.kind == "tenants":
            self._check_once_in_file(number, reference, models[0].phone, values.get("property_reference"))
        return models

    def _check_once_in_file(self, number: int, reference: str, phone: str, home: str | None) -> None:
        """A number or a home on two rows of one file is a mistake in the file, whichever row is right."""
        owner = self.phone_rows.setdefault(phone, (number, reference))
        if owner[0] != number:
            raise Invalid({"phone": f"{phone} is also on row {owner[0]} (tenant {owner[1]})"})
        if home and self.home_rows.setdefault(home, number) != number:
            raise Invalid({"property_reference": f"{home} is also on row {self.home_rows[home]}"})

    def _reference_problems(self, values: dict) -> dict[str, str]:
        problems = {}
        for column, longest in self._reference_columns(values):
            if not values.get(column):
                problems[column] = "is required"
            elif problem := reference_problem(values[column], longest):
                problems[column] = problem
        return problems

    def _reference_columns(self, values: dict) -> list[tuple[str, int]]:
        if self.kind == "visits":
            columns = [("visit_reference", 32), ("tenant_reference", 64), ("property_reference", 64)]
            return columns + ([("operative_reference", 64)] if values.get("operative_reference") else [])
        columns = [("tenant_reference", 64)]
        return columns + ([("property_reference", 64)] if _has_home(values) else [])

    def _models(self, values: dict) -> tuple:
        given = {name: value for name, value in values.items() if value != ""}
        if self.kind == "visits":
            body = {
                name: given[name] for name in ("visit_type", "tenant_reference", "property_reference") if name in given
            }
            body["slot"] = {"start": given.get("slot_start"), "end": given.get("slot_end")}
            body["operative_reference"] = given.get("operative_reference")
            return (read(VisitIn, body, self.settings),)

        tenant_fields = ("name", "phone", "whatsapp", "language", "preferred_channel")
        tenant_body = {name: given[name] for name in tenant_fields if name in given}
        home_body = {name: given[name] for name in PROPERTY_COLUMNS if name in given}
        home_body["tenant_reference"] = given.get("tenant_reference")
        # Both halves are checked, so one report names every problem on the row.
        problems, checked = {}, []
        for model, body in ((TenantIn, tenant_body), (PropertyIn, home_body if _has_home(values) else None)):
            try:
                checked.append(read(model, body, self.settings) if body is not None else None)
            except Invalid as invalid:
                problems.update(invalid.fields)
        if problems:
            raise Invalid(problems)
        return tuple(checked)

    def _store(self, session, values: dict, models: tuple, change: hms.Change) -> str:
        """Upsert in a savepoint, so a row that fails here leaves the rest of the batch in place."""
        savepoint = session.begin_nested()
        try:
            if self.kind == "visits":
                outcomes = [hms.upsert_visit(session, values["visit_reference"], models[0], change)]
            else:
                outcomes = [hms.upsert_tenant(session, values["tenant_reference"], models[0], change)]
                if models[1] is not None:
                    outcomes.append(hms.upsert_property(session, values["property_reference"], models[1], change))
            savepoint.commit()
        except (Invalid, hms.UnknownReference, hms.Conflict):
            savepoint.rollback()
            raise
        except IntegrityError as clash:
            savepoint.rollback()
            raise hms.Conflict({"": "changed by someone else while loading: import the file again"}) from clash
        if outcomes[0].created:
            return "created"
        return "updated" if any(outcome.changed for outcome in outcomes) else "unchanged"

    def _report(self, number: int, reference: str, fields: dict[str, str]) -> None:
        for name, reason in fields.items():
            self.result.errors.append(RowError(number, reference, _column(name), reason))


def _has_home(values: dict) -> bool:
    return bool(values.get("property_reference")) or any(values.get(name) for name in PROPERTY_COLUMNS)


def _column(field_name: str) -> str:
    """A model's field name as the file's column: slot.start -> slot_start."""
    if field_name in ("slot", "body"):
        return "slot_start" if field_name == "slot" else ""
    return field_name.replace(".", "_")


# The error report.


def report_csv(errors: list[dict]) -> str:
    """The rows that did not load, one line per problem, safe to open in a spreadsheet."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(REPORT_COLUMNS)
    for error in errors:
        writer.writerow([safe_cell(error[name]) for name in REPORT_COLUMNS])
    return buffer.getvalue()


# The command line.


@click.command("import-csv")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--kind", required=True, type=click.Choice(tuple(COLUMNS)), help="What each row is (see README).")
@click.option(
    "--errors",
    "errors_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the rows that did not load (default: FILE.errors.csv beside it).",
)
@with_appcontext
def import_csv_command(path: Path, kind: str, errors_path: Path | None):
    """Load tenants (with their homes) or visits from a CSV file; safe to run again on the same file."""
    runtime = current_app.extensions["assistant"]
    line = ProgressLine(sys.stderr)
    try:
        result = run_import(runtime, kind, decode(path.read_bytes()), actor="import:command line", progress=line.show)
    except FileProblem as problem:
        raise click.ClickException(str(problem)) from problem
    line.done(result)

    if result.errors:
        errors_path = errors_path or path.with_name(path.stem + ".errors.csv")
        errors_path.write_text(report_csv([error.as_dict() for error in result.errors]), encoding="utf-8")
        for error in result.errors[:20]:
            click.echo(f"  {error.describe()}")
        more = len(result.errors) - 20
        click.echo(f"{'  ... and ' + str(more) + ' more; ' if more > 0 else ''}every problem is in {errors_path}")
        # A script running the import should notice that some rows need fixing.
        sys.exit(1)


class ProgressLine:
    """One line that counts up as batches load; plain lines when the output is not a terminal."""

    def __init__(self, stream):
        self.stream = stream
        self.interactive = stream.isatty()

    def show(self, result: Result) -> None:
        text = f"{result.processed}/{result.total} rows checked, {result.rejected_rows} with problems"
        self.stream.write(f"\r… {text} " if self.interactive else f"… {text}\n")
        self.stream.flush()

    def done(self, result: Result) -> None:
        if self.interactive:
            self.stream.write("\n")
        click.echo(
            f"{result.total} rows: {result.created} new, {result.updated} updated, {result.unchanged} unchanged, "
            f"{result.rejected_rows} not loaded"
        )
