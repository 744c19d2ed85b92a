"""PostgreSQL for tests: a schema of its own per test (or module), dropped afterwards."""

import uuid
from contextlib import contextmanager

from sqlalchemy import text

from store.db import make_engine


@contextmanager
def postgres_schema(base_url: str):
    """Yield a database URL whose tables live in a new, empty schema; runs never see each other's rows."""
    schema = f"test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
