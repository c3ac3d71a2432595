"""The one handler every command shares: project errors exit 2 with one line, Ctrl-C exits 130."""

from __future__ import annotations

import pytest

from estimator.commands import EXIT_BAD_INPUT, EXIT_INTERRUPTED, run_command
from estimator.errors import PROJECT_ERRORS, EstimatorError, MeasureError, ProfileError, UsageError
from graph.errors import GraphError, ModelLoadError, NodeError, ShapeError


def _raise(error: BaseException):
    def body() -> int:
        raise error
    return body


def test_both_roots_are_project_errors():
    assert set(PROJECT_ERRORS) == {EstimatorError, GraphError}
    for error_class in (ProfileError, MeasureError, UsageError, ModelLoadError, ShapeError, NodeError):
        assert issubclass(error_class, PROJECT_ERRORS)


@pytest.mark.parametrize("error", [ShapeError("m.onnx: input 'x' dimension 2 is symbolic"),
                                   ProfileError("unknown profile 'nope'"), MeasureError("torch cannot build it")])
def test_project_errors_exit_2_with_one_line(error, capsys):
    assert run_command("collect", _raise(error)) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err == f"collect: error: {error}\n"


def test_ctrl_c_exits_130_and_says_what_is_kept(capsys):
    assert run_command("collect", _raise(KeyboardInterrupt()), interrupted="kept in journal.jsonl") == EXIT_INTERRUPTED
    assert capsys.readouterr().err == "\ncollect: interrupted: kept in journal.jsonl\n"


def test_other_errors_are_bugs_and_keep_their_traceback():
    with pytest.raises(ZeroDivisionError):
        run_command("collect", lambda: 1 // 0)


def test_the_body_picks_the_exit_code():
    assert run_command("collect", lambda: 0) == 0
