"""The reviewer pages in a real browser: Debian's Chromium against the live server.

A staff reviewer logs in, opens the moves list, a move's page, its entries of one table and a
row's history, and reads what the test asserts. With ``AMI_SCREENSHOT_DIR`` set, the move page
is saved there as ``reviewer-move-page.png`` (``docs/`` holds the one the docs show):

    AMI_SCREENSHOT_DIR=docs .venv/bin/python -m pytest tests/ledger/web/test_browser.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from ami.main.cached_fields import refresh_project_cached_fields
from ledger.models import Move
from tests.ami.move.commands import move_to, revert
from tests.builders import add_deployment, make_project, make_user, setup_source
from tests.ledger.web.browser import follow, log_in, require_browser, save_page, start_chromium

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECONDS_AND_ZONE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")
REASON = "TICKET-12: station filed under the wrong project"


@pytest.fixture(scope="module")
def driver():
    require_browser()
    chromium = start_chromium()
    yield chromium
    chromium.quit()


@pytest.fixture
def by():
    from selenium.webdriver.common.by import By

    return By


@pytest.fixture
def world(transactional_db, django_user_model):
    """A reviewer, a move of one station from "Source Project" to "Target", and its revert."""
    django_user_model.objects.create_superuser(email="reviewer@example.com", password="pw")
    src = setup_source(3, with_identifications=True)
    add_deployment(src.project, "Dep B", 2, data_source=src.s3, device=src.device)
    target = make_project("Target", make_user("target-owner"))
    refresh_project_cached_fields([src.project.pk, target.pk])
    move_id = move_to(src.project.pk, target.pk, src.dep.pk, reason=REASON)
    revert(move_id, "--execute", "--reason", "TICKET-13: moved back")
    return SimpleNamespace(
        src=src,
        target=target,
        move=Move.objects.get(pk=move_id),
        revert=Move.objects.get(reverts_id=move_id),
    )


@pytest.fixture
def reviewer(driver, live_server, world):
    log_in(driver, live_server.url, "reviewer@example.com", "pw")
    return driver


def cells(row) -> list[str]:
    from selenium.webdriver.common.by import By

    return [c.text for c in row.find_elements(By.CSS_SELECTOR, "th, td")]


def test_moves_list_shows_reason_source_target_deployments_and_lineage(
    reviewer, live_server, world, by
):
    reviewer.get(f"{live_server.url}/admin/ledger/move/")
    # Styled: the admin's stylesheet was served and applied.
    header = reviewer.find_element(by.ID, "header")
    assert header.value_of_css_property("background-color") not in ("rgba(0, 0, 0, 0)", "")
    headings = [th.text for th in reviewer.find_elements(by.CSS_SELECTOR, "#result_list th")]
    for heading in ("REASON", "SOURCE", "TARGET", "DEPLOYMENTS", "LINEAGE", "COMMITTED"):
        assert heading in headings
    rows = {
        cells(r)[0]: cells(r) for r in reviewer.find_elements(by.CSS_SELECTOR, "#result_list tr")
    }
    moved = rows[str(world.move.pk)]
    assert REASON in moved
    assert str(world.src.project.pk) in moved
    assert str(world.target.pk) in moved
    assert f"[{world.src.dep.pk}]" in moved
    assert f"reverted by move {world.revert.pk}" in moved, moved
    assert any(SECONDS_AND_ZONE.match(c) for c in moved)
    assert f"reverts move {world.move.pk}" in rows[str(world.revert.pk)]
    # Nothing to add, change or delete.
    assert not reviewer.find_elements(
        by.CSS_SELECTOR, "#content-main a.addlink, #changelist select[name=action]"
    )


def test_move_page_shows_who_when_why_steps_counts_diffs_verification_lineage(
    reviewer, live_server, world, by
):
    move = world.move
    reviewer.get(f"{live_server.url}/admin/ledger/move/")
    follow(reviewer, reviewer.find_element(by.LINK_TEXT, str(move.pk)).click)
    assert reviewer.find_element(by.ID, "operator").text == move.operator
    assert reviewer.find_element(by.ID, "reason").text == REASON
    for when in ("started", "committed"):
        assert SECONDS_AND_ZONE.match(reviewer.find_element(by.ID, when).text)
    names = reviewer.find_elements(by.CSS_SELECTOR, "#arguments dt")
    values = reviewer.find_elements(by.CSS_SELECTOR, "#arguments dd")
    arguments = {n.text: v.text for n, v in zip(names, values, strict=True)}
    assert arguments["source_project"] == str(world.src.project.pk)
    assert arguments["target_project"] == str(world.target.pk)
    assert arguments["deployment_ids"] == f"[{world.src.dep.pk}]"
    steps = {
        cells(r)[1]: cells(r) for r in reviewer.find_elements(by.CSS_SELECTOR, "#steps tbody tr")
    }
    assert steps["[move-images]"][3:5] == ["3", "3"]  # expected, captured
    tables = {
        cells(r)[0].split()[0]: cells(r)
        for r in reviewer.find_elements(by.CSS_SELECTOR, "#tables tbody tr")
    }
    assert tables["main_sourceimage"][1:5] == ["0", "3", "0", "3"]
    sample = reviewer.find_element(
        by.CSS_SELECTOR, '.sample[data-table="main_sourceimage"][data-op="U"]'
    )
    diff = {cells(r)[0]: cells(r)[1:] for r in sample.find_elements(by.CSS_SELECTOR, "tbody tr")}
    assert diff["project_id"] == [str(world.src.project.pk), str(world.target.pk)]
    assert reviewer.find_element(by.ID, "digest").text == move.digest
    assert reviewer.find_element(by.ID, "signature").text.startswith("unsigned")
    assert "✓" in reviewer.find_element(by.ID, "chain").text
    if os.environ.get("AMI_SCREENSHOT_DIR"):
        save_page(reviewer, Path(os.environ["AMI_SCREENSHOT_DIR"]) / "reviewer-move-page.png")
    follow(reviewer, reviewer.find_element(by.ID, "verify-now").click)
    assert reviewer.find_element(by.ID, "recomputed").text.startswith("✓ intact")
    follow(reviewer, reviewer.find_element(by.CSS_SELECTOR, "#reverted-by a").click)
    assert reviewer.find_element(by.ID, "reason").text == "TICKET-13: moved back"
    assert reviewer.find_element(by.ID, "reverts").text == f"move {move.pk}"


def test_entries_of_one_table_of_a_move_then_a_rows_history(reviewer, live_server, world, by):
    move = world.move
    reviewer.get(f"{live_server.url}/admin/ledger/move/{move.pk}/change/")
    follow(reviewer, reviewer.find_element(by.LINK_TEXT, "main_sourceimage").click)
    assert reviewer.find_element(by.ID, "ledger-filter-move").get_attribute("value") == str(
        move.pk
    )
    rows = [cells(r) for r in reviewer.find_elements(by.CSS_SELECTOR, "#result_list tbody tr")]
    images = sorted(str(i.pk) for i in world.src.images)
    assert sorted(r[5] for r in rows) == images
    assert {(r[1], r[3], r[4]) for r in rows} == {
        (f"move {move.pk}", "main_sourceimage", "update")
    }
    # The search box finds row keys, never moves: the move's id finds only rows of that key.
    search = reviewer.find_element(by.ID, "searchbar")
    search.clear()
    search.send_keys(str(move.pk))
    follow(reviewer, search.submit)
    found = [cells(r) for r in reviewer.find_elements(by.CSS_SELECTOR, "#result_list tbody tr")]
    assert all(r[5] == str(move.pk) for r in found)
    # A row's history: the move and its revert.
    reviewer.get(
        f"{live_server.url}/admin/ledger/entry/?move={move.pk}&table_name=main_sourceimage"
    )
    follow(reviewer, reviewer.find_element(by.LINK_TEXT, images[0]).click)
    # The page's own title (Django 4.2's admin header is an h1 too).
    title = reviewer.find_element(by.CSS_SELECTOR, "#content h1").text
    assert "History of main_sourceimage row" in title
    history = reviewer.find_elements(by.CSS_SELECTOR, ".history")
    assert [h.get_attribute("data-move") for h in history] == [
        str(move.pk),
        str(world.revert.pk),
    ]
    first = {
        cells(r)[0]: cells(r)[1:] for r in history[0].find_elements(by.CSS_SELECTOR, "tbody tr")
    }
    assert first["project_id"] == [str(world.src.project.pk), str(world.target.pk)]
