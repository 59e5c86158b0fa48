"""Tables the ledger captures, validated when registered. Knows nothing of any domain."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from ledger.errors import RegistryError

# Postgres truncates identifiers at 63 bytes; a longer name would silently alias another table.
MAX_IDENTIFIER_LENGTH = 63
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
# The ledger's own tables: capturing them would record the ledger writing itself.
_LEDGER_TABLES = frozenset(
    {"ledger_move", "ledger_step", "ledger_change", "ledger_entry", "ledger_staging"}
)


@dataclass(frozen=True)
class TableSpec:
    """One registered table.

    Attributes:
        table: the table's name (unqualified, resolved through ``search_path``).
        pk: its single-column primary key.
        secret_columns: columns stored only as ``sha256:<hex>`` fingerprints.
        label: a human label, e.g. ``main.SourceImage``; its app part feeds the schema fingerprint.
        replay: False for a history table (an audit trail the domain keeps, such as a
            pghistory event table): its rows are captured and sealed with the move, so the
            record is complete, but a revert never deletes history.
    """

    table: str
    pk: str
    secret_columns: tuple[str, ...]
    label: str
    replay: bool = True

    @property
    def app_label(self) -> str | None:
        """The part of ``label`` before the dot, if the label has one."""
        return self.label.split(".", 1)[0] if "." in self.label else None


_registry: dict[str, TableSpec] = {}
_lock = threading.Lock()


def _check_identifier(kind: str, name: object) -> str:
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise RegistryError(
            f"{kind} {name!r} is not a plain SQL identifier: pass the bare name, "
            "letters, digits and underscores only"
        )
    if len(name.encode()) > MAX_IDENTIFIER_LENGTH:
        raise RegistryError(f"{kind} {name!r} is longer than Postgres' 63-byte limit")
    return name


def register_table(
    table: str,
    *,
    pk: str = "id",
    secret_columns: tuple[str, ...] = (),
    label: str = "",
    replay: bool = True,
) -> TableSpec:
    """Register a table for capture. Idempotent: the same arguments again are a no-op.

    The table itself is looked up when a recording installs capture, so registering at
    import time (e.g. in ``AppConfig.ready``) is fine before migrations have run.

    Args:
        table: table name, e.g. ``"main_sourceimage"``.
        pk: primary key column (single column).
        secret_columns: columns kept as fingerprints, never in clear.
        label: a human label such as ``"main.SourceImage"``; defaults to the table name.
        replay: False for a history table: captured and sealed, never replayed by a revert.

    Returns:
        The registered spec.

    Raises:
        RegistryError: a bad name, a ledger table, or a conflicting earlier registration.

    Example:
        >>> ledger.register_table("main_s3storagesource", secret_columns=("secret_key",))
    """
    _check_identifier("table", table)
    _check_identifier("primary key", pk)
    if isinstance(secret_columns, str):
        raise RegistryError("secret_columns must be a tuple of column names, not a string")
    secrets = tuple(sorted({_check_identifier("secret column", c) for c in secret_columns}))
    if pk in secrets:
        raise RegistryError(f"primary key {pk!r} of {table} cannot be a secret column")
    if table in _LEDGER_TABLES:
        raise RegistryError(f"{table} belongs to the ledger itself and cannot be captured")
    spec = TableSpec(
        table=table, pk=pk, secret_columns=secrets, label=label or table, replay=replay
    )
    with _lock:
        existing = _registry.get(table)
        if existing is not None and existing != spec:
            raise RegistryError(
                f"{table} is already registered as {existing}; call unregister_table first "
                "to change its options"
            )
        _registry[table] = spec
    return spec


def register_from_settings() -> tuple[TableSpec, ...]:
    """Register the tables of the ``LEDGER_TABLES`` setting (run by the app's ``ready``).

    For a host that records in its own process without code of its own to register tables:
    each item is a table name, or a mapping of ``register_table``'s arguments, e.g.
    ``{"table": "main_s3storagesource", "secret_columns": ["secret_key"],
    "label": "main.S3StorageSource"}``.

    Raises:
        RegistryError: an item that is neither, an unknown argument, or a bad registration.
    """
    from django.conf import settings

    specs = []
    for item in getattr(settings, "LEDGER_TABLES", ()):
        if isinstance(item, str):
            specs.append(register_table(item))
            continue
        if not isinstance(item, Mapping) or "table" not in item:
            raise RegistryError(
                f"LEDGER_TABLES: {item!r} is neither a table name nor a mapping with a 'table'"
            )
        unknown = set(item) - {"table", "pk", "secret_columns", "label", "replay"}
        if unknown:
            raise RegistryError(
                f"LEDGER_TABLES: {item['table']} has unknown keys {sorted(unknown)}"
            )
        options = dict(item)
        specs.append(register_table(options.pop("table"), **options))
    return tuple(specs)


def unregister_table(table: str) -> None:
    """Forget a registered table (no-op when it is not registered)."""
    with _lock:
        _registry.pop(table, None)


def registered_tables() -> tuple[TableSpec, ...]:
    """Every registered table, sorted by name (the order capture takes its locks in)."""
    with _lock:
        return tuple(_registry[name] for name in sorted(_registry))
