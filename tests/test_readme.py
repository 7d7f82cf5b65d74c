"""The README and the docs agree with the code: exit codes, stages and local links."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from latentspark.artifacts import STAGES
from latentspark.errors import EXIT_CODES

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")),
        REPO / "benchmarks" / "README.md"]


def test_exit_code_table_is_the_one_in_errors():
    text = (REPO / "README.md").read_text()
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", section, flags=re.MULTILINE))
    assert {int(k): v for k, v in rows.items()} == EXIT_CODES


def test_every_stage_is_in_the_stage_table():
    text = (REPO / "README.md").read_text()
    table = text.split("## The stages", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `(\w+)` \|", table, flags=re.MULTILINE)
    assert listed == list(STAGES)
    for stage in STAGES:
        assert f"`jobs/{stage}.py`" in table and f"`latentspark.stages.{stage}`" in table


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_local_links_resolve(doc):
    text = doc.read_text()
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" in target:
            continue
        assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"
