"""The OpenAPI 3.1 document for /api/v1, made from the pydantic models in hms_schemas.py.

Served at GET /api/v1/openapi.json. The component schemas are pydantic's own
JSON Schema for each model; the operations below say which model each route
takes and answers with. tests/test_hms_api.py checks real requests and answers
against this document, and that every /api/v1 route is in it.
"""

import json
from dataclasses import dataclass, field
from functools import lru_cache

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from service import hms_schemas as schemas

REFERENCE = {"name": "reference", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}
ERRORS = {
    400: "A body or reference we cannot use: `fields` gives the reason for each field.",
    401: "No API key, or one we do not know.",
    403: "The key does not hold the scope this needs.",
    404: "No record has that reference.",
    409: "The change clashes with what is stored: `fields` says what.",
    422: "The body names a tenant, home or operative we do not have.",
}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    scope: str
    summary: str
    answers: dict[int, type[BaseModel] | None]
    body: type[BaseModel] | None = None
    description: str = ""
    tags: tuple[str, ...] = field(default=("hms",))


def _hms_operations() -> list[Operation]:
    kinds = [
        ("tenants", "tenant", schemas.TenantIn, schemas.TenantOut, ""),
        ("properties", "home", schemas.PropertyIn, schemas.PropertyOut, ""),
        ("operatives", "operative", schemas.OperativeIn, schemas.OperativeOut, ""),
        (
            "visits",
            "visit",
            schemas.VisitIn,
            schemas.VisitOut,
            " Creating a visit plans its reminders. A new slot moves it: the visit is booked again, its reminders "
            "are re-planned and the tenant is told the new time. A visit cannot change tenant or home.",
        ),
        (
            "jobs",
            "job",
            schemas.JobIn,
            schemas.JobOut,
            " A job is work pending at a home with no visit of its own yet. When the tenant books or moves "
            "another visit there, they are offered it in the same visit; once they agree it is booked into it.",
        ),
    ]
    operations = []
    for plural, name, body, answer, more in kinds:
        path = f"/hms/{plural}/{{reference}}"
        operations.append(
            Operation(
                "put",
                path,
                "hms_write",
                f"Create or update a {name} by your reference",
                {200: answer, 201: answer, 400: None, 401: None, 403: None, 409: None, 422: None},
                body=body,
                description="Sending the same body again changes nothing (200)." + more,
            )
        )
        operations.append(
            Operation("get", path, "hms_read", f"Read a {name}", {200: answer, 401: None, 403: None, 404: None})
        )
    return operations


def _operative_operations() -> list[Operation]:
    return [
        Operation(
            "post",
            "/visits/{reference}/status",
            "operative_status",
            "Report on the day: on my way, running late, arrived, finished, no access",
            {200: schemas.OperativeVisitOut, 400: None, 401: None, 403: None, 404: None, 409: None},
            body=schemas.OperativeReportIn,
            tags=("operatives",),
        ),
        Operation(
            "post",
            "/visits/{reference}/findings",
            "operative_status",
            "Report something noticed at the home: damp, mould, disrepair, hoarding or a safeguarding concern",
            {201: schemas.FindingOut, 400: None, 401: None, 403: None, 404: None},
            body=schemas.FindingIn,
            description="Damp, mould, disrepair and other become a job for the home; hoarding and safeguarding "
            "concerns become a task for a safeguarding officer.",
            tags=("operatives",),
        ),
        Operation(
            "get",
            "/visits/{reference}",
            "operative_status",
            "The visit as the operative needs it on the day, with what the tenant said since they set off",
            {200: schemas.OperativeVisitOut, 401: None, 403: None, 404: None},
            tags=("operatives",),
        ),
    ]


OPERATIONS = _hms_operations() + _operative_operations()


def document(settings) -> dict:
    """The whole document, with this installation's visit types and skills filled in."""
    spec = _base_document()
    schemas_by_name = spec["components"]["schemas"]
    schemas_by_name["VisitIn"]["properties"]["visit_type"]["enum"] = list(settings.visit_types)
    schemas_by_name["JobIn"]["properties"]["kind"]["enum"] = list(settings.visit_types)
    schemas_by_name["OperativeIn"]["properties"]["skills"]["items"]["enum"] = schemas.known_skills(settings)
    return spec


@lru_cache(maxsize=1)
def _frozen_base() -> str:
    return json.dumps(_build())


def _base_document() -> dict:
    # A fresh copy each time: document() fills in settings without touching the cached one.
    return json.loads(_frozen_base())


def _build() -> dict:
    models = {schemas.Error, schemas.WebhookEvent}
    for operation in OPERATIONS:
        models.update(model for model in operation.answers.values() if model)
        if operation.body:
            models.add(operation.body)
    inputs = {operation.body for operation in OPERATIONS if operation.body}
    ordered = sorted(models, key=lambda model: model.__name__)
    _, definitions = models_json_schema(
        [(model, "validation" if model in inputs else "serialization") for model in ordered],
        ref_template="#/components/schemas/{model}",
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Tenant access assistant API",
            "version": "1",
            "description": (
                "For the provider's housing management system (hms_write, hms_read) and operatives' apps "
                "(operative_status). Send an API key as `Authorization: Bearer <key>`; make one with "
                "`flask --app app create-api-key --name NAME --scope SCOPE`."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "paths": _paths(),
        "webhooks": {"visitChanged": _webhook()},
        "components": {
            "schemas": definitions["$defs"],
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "An API key."}},
        },
    }


def _paths() -> dict:
    paths: dict = {}
    for operation in OPERATIONS:
        entry = {
            "summary": operation.summary,
            "description": f"Scope: `{operation.scope}`. {operation.description}".strip(),
            "tags": list(operation.tags),
            "operationId": _operation_id(operation),
            "parameters": [REFERENCE],
            "security": [{"apiKey": [operation.scope]}],
            "responses": {str(code): _answer(code, model) for code, model in operation.answers.items()},
        }
        if operation.body:
            entry["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(operation.body)}}}
        paths.setdefault(operation.path, {})[operation.method] = entry
    return paths


def _operation_id(operation: Operation) -> str:
    words = operation.path.replace("{", "").replace("}", "").strip("/").split("/")
    return "_".join([operation.method, *words])


def _answer(code: int, model: type[BaseModel] | None) -> dict:
    if model is None:
        return {"description": ERRORS[code], "content": {"application/json": {"schema": _ref(schemas.Error)}}}
    description = {200: "OK", 201: "Created"}.get(code, "")
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _webhook() -> dict:
    return {
        "post": {
            "summary": "A visit's status changed (config.yml `webhooks:`)",
            "description": (
                'Signed: `X-Webhook-Signature: sha256=<hex HMAC-SHA256 of "<X-Webhook-Timestamp>.<body>">` with '
                "the shared secret. `X-Webhook-Id` is the event's id: the same on every retry, so drop repeats. "
                "Answer 2xx once stored; anything else is retried later, with growing gaps."
            ),
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(schemas.WebhookEvent)}}},
            "responses": {"200": {"description": "Stored."}},
        }
    }


def _ref(model: type[BaseModel]) -> dict:
    return {"$ref": f"#/components/schemas/{model.__name__}"}
