"""The `edgeface` command refuses bad input before doing any work: one line `edgeface: error: ...`,
the documented exit code, nothing lost. In-process and without models (edge.cli.main)."""

import pytest

from edge.cli import EXIT_NO, build_parser, main


def test_global_options_before_or_after_the_command():
    p = build_parser()
    for argv in (["--threads", "3", "-v", "--models", "m", "--detector", "blazeface", "models"],
                 ["models", "--threads", "3", "-v", "--models", "m", "--detector", "blazeface"],
                 ["--threads", "1", "models", "--threads", "3", "-v", "--models", "m", "--detector", "blazeface"]):
        a = p.parse_args(argv)
        assert (a.threads, a.verbose, a.models, a.detector) == (3, True, "m", "blazeface"), argv
    a = p.parse_args(["check", "x.yaml"])
    assert (a.threads, a.verbose, a.models, a.detector) == (None, False, None, None)
    a = p.parse_args(["-v", "persons", "--store", "s.db", "list"])  # given before, not reset by the subcommand
    assert a.verbose is True


def test_exit_codes_are_documented(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "2  usage error" in out and f"{EXIT_NO}  the answer is no: verify: different people" in out
    with pytest.raises(SystemExit) as e:
        main(["verify", "only-one.jpg"])
    assert e.value.code == 2
