"""LEDGER_TABLES: a host registers its tables from its settings, with no code of its own."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection, transaction

import ledger
from tests.ledger import builders


@pytest.fixture
def forget():
    yield
    builders.unregister_tables()


def test_the_app_registers_the_tables_of_the_setting_when_ready(settings, forget, db):
    builders.create_tables(register=False)
    settings.LEDGER_TABLES = [
        "ledger_t_parent",
        {"table": "ledger_t_child", "secret_columns": ["secret"], "label": "tests.Child"},
        {"table": "ledger_t_note", "pk": "code"},
    ]
    apps.get_app_config("ledger").ready()
    specs = {spec.table: spec for spec in ledger.registered_tables()}
    assert specs["ledger_t_parent"].label == "ledger_t_parent"
    assert specs["ledger_t_child"].secret_columns == ("secret",)
    assert specs["ledger_t_note"].pk == "code"
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO ledger_t_parent (name) VALUES ('p')")
    with (
        transaction.atomic(),
        ledger.recording(command="t", reason="r", operator="7") as rec,
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE ledger_t_parent SET name = 'q'")
    assert rec.entry_count == 1


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (42, "42 is neither a table name nor a mapping with a 'table'"),
        ({"name": "x"}, "neither a table name nor a mapping with a 'table'"),
        ({"table": "x", "secrets": ["a"]}, r"x has unknown keys \['secrets'\]"),
        ({"table": "x", "secret_columns": "a"}, "must be a tuple of column names"),
    ],
)
def test_a_bad_item_is_refused_naming_it(settings, forget, item, message):
    settings.LEDGER_TABLES = [item]
    with pytest.raises(ledger.RegistryError, match=message):
        apps.get_app_config("ledger").ready()
