"""One statement's rows, on the default connection: the read helper every move module uses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import connection


def rows(sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Every row ``sql`` returns, with named ``params``."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
