"""Options and markers of the MPI support: documented, checked, clear about bad input."""

from __future__ import annotations

import pytest

from pytest_patch.mpi._options import parse_timeout
from pytest_patch.mpi.reporting import RankFailures, combine
from pytest_patch.wire import forwarded_args

# Slow (pytest sessions in subprocesses): left out of the fast subset, -m "not slow".
pytestmark = pytest.mark.slow

pytest_plugins = ["pytester"]

BAD_MARKS = {
    "test_misspelled": "@pytest.mark.mpi(minsize=2)",
    "test_not_an_int": '@pytest.mark.mpi(min_size="2")',
    "test_too_small": "@pytest.mark.mpi(min_size=0)",
    "test_positional": "@pytest.mark.mpi(2)",
}


@pytest.mark.parametrize("value", ["abc", "-1", "0", "nan", "inf", ""])
def test_bad_timeouts_are_usage_errors(value: str) -> None:
    with pytest.raises(pytest.UsageError, match="give a positive number of seconds"):
        parse_timeout(value)


def test_good_timeout() -> None:
    assert parse_timeout("2.5") == 2.5


def test_bad_timeout_on_the_command_line_and_in_the_ini(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_subprocess("--mpi-timeout=abc")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --mpi-timeout='abc': give a positive number*"])
    assert "Traceback" not in result.stderr.str()
    result = pytester.runpytest("-o", "mpi_timeout=-3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "mpi_child_runs",
            "maybe",
            "ERROR: ini mpi_child_runs: invalid truth value 'maybe'; write true or false (or 1/0, yes/no, on/off).",
        ),
        (
            "nrn_coreneuron",
            "perhaps",
            "ERROR: nrn_coreneuron = 'perhaps': give auto (the default), true or false.",
        ),
    ],
)
def test_an_invalid_ini_value_names_its_key(
    pytester: pytest.Pytester, key: str, value: str, message: str
) -> None:
    """Also nrn_coreneuron with no mod folder, where nothing else reads it."""
    pytester.makeini(f"[pytest]\n{key} = {value}\n")
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_bad_marker_arguments_are_collection_errors(pytester: pytest.Pytester) -> None:
    for name, mark in BAD_MARKS.items():
        pytester.makepyfile(**{name: f"import pytest\n\n{mark}\ndef test_it():\n    pass\n"})
    pytester.makepyfile(
        test_class="""
        import pytest

        @pytest.mark.mpi(min_size=1.5)
        class TestC:
            def test_it(self):
                pass
    """
    )
    result = pytester.runpytest("--strict-markers")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines_random(
        [
            "test_misspelled.py::test_it: @pytest.mark.mpi got unknown keyword argument(s) "
            "[[]'minsize'[]]; use @pytest.mark.mpi or @pytest.mark.mpi(min_size=N)*",
            "test_not_an_int.py::test_it: @pytest.mark.mpi(min_size='2') is not an int >= 1*",
            "test_too_small.py::test_it: @pytest.mark.mpi(min_size=0) is not an int >= 1*",
            "test_positional.py::test_it: @pytest.mark.mpi takes no positional arguments*",
            "test_class.py::TestC::test_it: @pytest.mark.mpi(min_size=1.5) is not an int*",
            "*5 errors*",
        ]
    )


def test_with_mpi_without_mpiexec_says_so_and_skips(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.mpi
        def test_one_rank():
            pass

        @pytest.mark.mpi(min_size=2)
        def test_two_ranks():
            pass

        @pytest.mark.mpi_xfail
        def test_broken_under_mpi():
            assert False
    """)
    result = pytester.runpytest("--with-mpi", "-rsx", "--strict-markers")
    result.stdout.fnmatch_lines(
        [
            "mpi: --with-mpi, but this process was not started by mpiexec: running on 1 rank*",
            "SKIPPED * needs 2 MPI ranks (mpi(min_size=2)) but this --with-mpi run has 1 rank*",
            "XFAIL *test_broken_under_mpi*",
        ]
    )
    result.assert_outcomes(passed=1, skipped=1, xfailed=1)


def test_loads_with_autoload_off_and_documents_everything(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = pytester.runpytest_subprocess("-p", "pytest_patch", "-p", "no:pytest_mpi", "--help")
    result.stdout.fnmatch_lines(
        [
            "*--mpi-timeout=SECONDS*",
            "*--with-mpi*run MPI tests; pair it with mpiexec*",
            "*--only-mpi*",
            "*mpi_timeout*default for --mpi-timeout*",
        ]
    )
    result = pytester.runpytest_subprocess("-p", "pytest_patch", "--markers")
    result.stdout.fnmatch_lines_random(
        [
            "@pytest.mark.mpi(min_size=1): the test needs an MPI world of at least min_size*",
            "@pytest.mark.mpi_skip:*",
            "@pytest.mark.mpi_xfail:*",
        ]
    )


def test_child_runs_repeat_the_parents_plugin_and_neuron_options() -> None:
    args = [
        "-x",
        "-p",
        "no:foo",
        "-pbar",
        "-o",
        "a=1",
        "--nrn-leaks",
        "warn",
        "--nrn-mod-dir=m",
        "-k",
        "x",
        "--mpi-timeout=3",
        "tests",
    ]
    assert forwarded_args(args) == [
        "-p",
        "no:foo",
        "-pbar",
        "-o",
        "a=1",
        "--nrn-leaks",
        "warn",
        "--nrn-mod-dir=m",
    ]


def test_combined_outcome() -> None:
    def report(outcome: str, longrepr: object = None) -> pytest.TestReport:
        return pytest.TestReport("t.py::t", ("t.py", 0, "t"), {}, outcome, longrepr, "call")

    skipped = combine(report("passed"), {0: "passed", 1: report("skipped", ("t.py", 3, "no"))}, 0)
    assert (skipped.outcome, skipped.longrepr) == ("skipped", ("t.py", 3, "[rank 1] no"))
    failed = combine(
        report("passed"), {0: "passed", 1: report("skipped"), 2: report("failed", "boom")}, 0
    )
    assert failed.outcome == "failed"
    assert isinstance(failed.longrepr, RankFailures)
    assert str(failed.longrepr.reprcrash) == "[rank 2] boom"
    hung = combine(report("failed", "own"), {0: report("failed", "own")}, 0, {1: "rank 1 hung"})
    assert "rank 1 hung" in str(hung.longrepr)
    assert str(hung.longrepr.reprcrash) == "[ranks 0, 1] own"
