"""Filters of ``list_moves``: ``--subject key=value`` for any domain, and the short options a
domain names for its own subjects (``register_list_filter``).

The ledger never interprets a move's subjects. A domain that wants ``list_moves --account 7``
to find the moves whose ``account`` or ``other_account`` subject is 7 registers, in its
``AppConfig.ready``::

    ledger.register_list_filter(
        "account", keys=("account", "other_account"), help="Moves about this account id."
    )
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import msgspec

from ledger.errors import LedgerError

# An option name: what follows the two dashes of ``--name``.
_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
# Options of list_moves itself: a filter may not take their names.
RESERVED = frozenset({"subject", "since", "format", "help"})


def parse_subject_value(text: str) -> object:
    """The value of ``key=value`` as JSON when it is JSON (``7``, ``true``, ``"7"``), else
    the text itself (``abc``, ``07``)."""
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return text
    return value if isinstance(value, str | int | bool) or value is None else text


@dataclass(frozen=True)
class ListFilter:
    """A short option of ``list_moves`` that matches one value against some subject keys.

    Attributes:
        name: the option, without its dashes (``account`` for ``--account``).
        keys: subject keys, any of which may hold the value.
        help: the option's help text.
        parse: turns the option's text into the value the subjects hold; raises
            ``ValueError`` with a sentence for the operator. Default: ``parse_subject_value``.
    """

    name: str
    keys: tuple[str, ...]
    help: str
    parse: Callable[[str], object] = parse_subject_value

    def match(self, text: str) -> list[tuple[str, object]]:
        """The (key, value) pairs the option's text stands for, any of which may match.

        Raises:
            ValueError: the domain's ``parse`` refused the text.
        """
        value = self.parse(text)
        return [(key, value) for key in self.keys]


_filters: dict[str, ListFilter] = {}
_lock = threading.Lock()


def register_list_filter(
    name: str,
    *,
    keys: Sequence[str],
    help: str,
    parse: Callable[[str], object] | None = None,
) -> ListFilter:
    """Add ``--name VALUE`` to ``list_moves``: moves whose subjects hold VALUE under any of
    ``keys`` (as the value, or in a list). Registering the same filter again is a no-op.

    Raises:
        LedgerError: a bad name or no keys, or another filter already has that name.
    """
    if not _NAME.fullmatch(name) or name in RESERVED:
        raise LedgerError(
            f"list filter name {name!r} must be lowercase words joined by dashes, and not one "
            f"of {sorted(RESERVED)}"
        )
    if not keys or not all(isinstance(k, str) and k for k in keys):
        raise LedgerError(f"list filter {name!r} needs at least one subject key")
    found = ListFilter(name=name, keys=tuple(keys), help=help, parse=parse or parse_subject_value)
    with _lock:
        existing = _filters.get(name)
        if existing is not None and existing != found:
            raise LedgerError(f"another list filter is already registered as --{name}")
        _filters[name] = found
    return found


def unregister_list_filter(name: str) -> None:
    """Remove a filter (tests)."""
    with _lock:
        _filters.pop(name, None)


def list_filters() -> tuple[ListFilter, ...]:
    """The registered filters, by name."""
    with _lock:
        return tuple(_filters[name] for name in sorted(_filters))


def parse_subject(text: str) -> list[tuple[str, object]]:
    """``--subject key=value`` as one condition.

    Raises:
        ValueError: no ``=``, or an empty key.
    """
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"--subject {text!r} is not key=value: pass e.g. --subject account=7")
    return [(key.strip(), parse_subject_value(value))]
