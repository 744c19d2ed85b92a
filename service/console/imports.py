"""CSV imports in the console (admin only): upload a file, watch it load, download the rows that did not.

The file is checked as a whole at once (UTF-8, the header's columns), then its
rows load in a background thread (service/csv_import.py) while the job's page
refreshes itself every two seconds. The job row keeps the counts and every
problem, so the report outlives the thread.
"""

import logging
import threading
from datetime import timedelta

from flask import Response, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from service import csv_import
from service.console import audit
from service.console.blueprint import ADMIN_ROLES, bp, current_officer, requires_role, runtime
from store.db import transaction
from store.models import ImportJob
from store.types import utcnow

log = logging.getLogger(__name__)

# Bigger than the app's usual request limit: a few tens of thousands of rows.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
# A running job whose progress has not moved for this long was cut off (the process stopped).
STALLED_AFTER = timedelta(minutes=5)
RECENT_JOBS = 20


@bp.before_app_request
def room_for_uploads():
    # Runs before the CSRF check reads the form, so the larger limit applies to this one route.
    if request.endpoint == "console.upload_import":
        request.max_content_length = MAX_UPLOAD_BYTES


@bp.get("/imports")
@requires_role(*ADMIN_ROLES)
def imports():
    """The upload form, the columns each kind of file has, and the latest imports."""
    with transaction(runtime().sessions) as session:
        jobs = session.scalars(select(ImportJob).order_by(ImportJob.id.desc()).limit(RECENT_JOBS)).all()
        return render_template("console/imports.html", jobs=jobs, columns=csv_import.COLUMNS)


@bp.post("/imports")
@requires_role(*ADMIN_ROLES)
def upload_import():
    kind = request.form.get("kind", "")
    upload = request.files.get("file")
    if kind not in csv_import.COLUMNS or upload is None or not upload.filename:
        flash("Choose what the file holds and the file itself.", "error")
        return redirect(url_for("console.imports"))
    try:
        text = csv_import.decode(upload.read())
        rows = csv_import.read_rows(kind, text)
    except csv_import.FileProblem as problem:
        flash(f"{upload.filename}: {problem}", "error")
        return redirect(url_for("console.imports"))

    job_id = _start_job(kind, upload.filename, len(rows))
    threading.Thread(
        target=_run_job, args=(runtime(), job_id, kind, text), name=f"import-{job_id}", daemon=True
    ).start()
    return redirect(url_for("console.import_job", job_id=job_id))


@bp.get("/imports/<int:job_id>")
@requires_role(*ADMIN_ROLES)
def import_job(job_id: int):
    """Progress while it runs (the page refreshes itself), then the counts and every row that did not load."""
    with transaction(runtime().sessions) as session:
        job = session.get(ImportJob, job_id) or abort(404)
        # Wall-clock time, like the job row's own updated_at.
        stalled = job.status == "running" and job.updated_at < utcnow() - STALLED_AFTER
        return render_template("console/import_job.html", job=job, stalled=stalled)


@bp.get("/imports/<int:job_id>/errors.csv")
@requires_role(*ADMIN_ROLES)
def import_errors(job_id: int):
    with transaction(runtime().sessions) as session:
        job = session.get(ImportJob, job_id) or abort(404)
        body = csv_import.report_csv(job.errors or [])
    filename = f"import-{job_id}-errors.csv"
    return Response(body, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _start_job(kind: str, filename: str, total: int) -> int:
    officer, now = current_officer(), runtime().clock()
    with transaction(runtime().sessions) as session:
        job = ImportJob(kind=kind, filename=filename[:200], officer_id=officer.id, status="running", total_rows=total)
        session.add(job)
        session.flush()
        audit.record(session, officer.id, "imported_csv", now, detail={"job_id": job.id, "kind": kind, "rows": total})
        job_id = job.id
    log.info("csv import started", extra={"job_id": job_id, "kind": kind, "rows": total})
    return job_id


def _run_job(runtime, job_id: int, kind: str, text: str) -> None:
    with transaction(runtime.sessions) as session:
        officer_id = session.get(ImportJob, job_id).officer_id
    try:
        result = csv_import.run_import(
            runtime,
            kind,
            text,
            actor=f"import:officer:{officer_id}",
            progress=lambda done: _save(runtime, job_id, done),
        )
        _save(runtime, job_id, result, status="done")
    except Exception as error:
        # Rows already loaded stay loaded; importing the file again finishes the rest without repeating them.
        log.exception("csv import failed", extra={"job_id": job_id})
        _fail(runtime, job_id, f"the import stopped: {type(error).__name__}. Import the file again to finish it.")


def _save(runtime, job_id: int, result: csv_import.Result, status: str = "running") -> None:
    with transaction(runtime.sessions) as session:
        job = session.get(ImportJob, job_id)
        job.processed_rows, job.created_count = result.processed, result.created
        job.updated_count, job.unchanged_count = result.updated, result.unchanged
        job.errors = [error.as_dict() for error in result.errors]
        job.status = status
        if status != "running":
            job.finished_at = runtime.clock()


def _fail(runtime, job_id: int, reason: str) -> None:
    with transaction(runtime.sessions) as session:
        job = session.get(ImportJob, job_id)
        job.errors = [*(job.errors or []), {"row": "", "reference": "", "column": "", "reason": reason}]
        job.status, job.finished_at = "failed", runtime.clock()
