"""--help of move_project_data and generate_demo_data: text for every flag, examples that parse."""

from __future__ import annotations

import re
import shlex

import pytest
from django.core.management import load_command_class

COMMANDS = {"move_project_data": "ami.main", "generate_demo_data": "ami.main"}


def parser_of(name: str):
    return load_command_class(COMMANDS[name], name).create_parser("manage.py", name)


def examples(name: str) -> list[list[str]]:
    """The example command lines of the help's epilog, continuation lines joined."""
    epilog = parser_of(name).epilog
    text = epilog.partition("examples:\n")[2].replace("\\\n", " ")
    lines = [line.partition("#")[0].strip() for line in text.splitlines()]
    return [shlex.split(line)[3:] for line in lines if line.startswith("python manage.py")]


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_has_help_text(name):
    parser = parser_of(name)
    missing = [a.option_strings for a in parser._actions if a.option_strings and not a.help]
    assert missing == []


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("move_project_data", r"--no-clone-pipelines\s+Do not copy the source's pipeline configs"),
        ("move_project_data", r"--no-clone-collections\s+A collection with moved and staying"),
        ("move_project_data", r"--fire-post-save\s+After the steps, save each moved deployment"),
        (
            "move_project_data",
            r"--allow-running-jobs\s+Move even if a running job touches",
        ),
        ("move_project_data", r"--format \{text,json\}\s+json: one document with the plan"),
        ("move_project_data", r"\nDry run by default; --execute writes"),
        ("generate_demo_data", r"--scale \{bci,bci10,tiny\}\s+How much data: tiny \(~200"),
        ("generate_demo_data", r"--format \{text,json\}\s+json: one document with the counts"),
    ],
)
def test_help_explains_the_flag(name, pattern):
    assert re.search(pattern, parser_of(name).format_help())


@pytest.mark.parametrize("name", COMMANDS)
def test_help_ends_with_examples_laid_out_as_written(name):
    text = parser_of(name).format_help()
    assert re.search(rf"\nexamples:\n  python manage\.py {name}\b.*\n", text)
    assert re.search(r"\n\nSee docs/[a-z-]+\.md\.\n$", text)


@pytest.mark.parametrize("name", COMMANDS)
def test_the_examples_parse(name):
    found = examples(name)
    assert len(found) >= 3
    for args in found:
        parser_of(name).parse_args(args)
