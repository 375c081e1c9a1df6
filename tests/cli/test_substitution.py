"""A name typo is refused before anything is sent; an answer from another provider says so."""

from __future__ import annotations

import argparse

import pytest

from hafs_actors import Attempt, GenerateResult
from hafs_actors.cli import main
from hafs_actors.cli._common import note_substitution


def test_a_misspelt_provider_exits_2_with_a_did_you_mean(
    capsys: pytest.CaptureFixture[str],
) -> None:
    try:
        code = main(["generate", "hi", "--provider", "opneai", "--emulate"])
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    err = capsys.readouterr().err
    assert code == 2
    assert "opneai" in err
    assert "openai" in err
    assert "Traceback" not in err


def test_an_answer_from_another_provider_is_one_line_on_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = GenerateResult(
        content="x",
        provider="gemini",
        model="gemini-2.5-flash",
        attempts=(
            Attempt("openai", "gpt-4o", "ServerError", 0.1),
            Attempt("gemini", "gemini-2.5-flash", "ok", 0.1),
        ),
        fallback_used=True,
    )
    note_substitution(argparse.Namespace(provider="openai"), result)
    note_substitution(argparse.Namespace(provider="gemini"), result)  # the one named: silent
    assert capsys.readouterr().err.splitlines() == [
        "hafs: answered by gemini/gemini-2.5-flash, not openai (openai: ServerError)"
    ]
