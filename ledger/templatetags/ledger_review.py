"""Filters and tags of the reviewer pages: times with seconds and zone, counts with separators,
links to moves, entries and row histories."""

from __future__ import annotations

from django import template

from ledger.web import formats, links, review

register = template.Library()

register.filter("when", formats.when)
register.filter("number", formats.number)
register.filter("move_link", links.move_link)
register.simple_tag(links.entries_url, name="entries_url")
register.simple_tag(links.row_url, name="row_url")
register.simple_tag(links.move_url, name="move_url")
register.filter("show_value", review.show_value)
