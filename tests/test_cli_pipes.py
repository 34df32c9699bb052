"""CLIs stop quietly when their reader goes away (`kws-eval ... | head`), never with a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kws_edge.errors import run_cli

REPO = Path(__file__).resolve().parents[1]


def test_run_cli_turns_a_closed_pipe_into_a_quiet_exit(tmp_path):
    script = tmp_path / "many_lines.py"
    script.write_text(f"""
import sys
sys.path.insert(0, {str(REPO)!r})
from kws_edge.errors import run_cli

def body():
    for i in range(200000):
        print("line", i)

sys.exit(run_cli("prog", body))
""")
    proc = subprocess.run(f"'{sys.executable}' '{script}' | head -n 2", shell=True, capture_output=True,
                          text=True, timeout=60)
    assert proc.stdout.splitlines() == ["line 0", "line 1"]
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_run_cli_returns_the_body_exit_code():
    assert run_cli("prog", lambda: 3) == 3
    assert run_cli("prog", lambda: None) == 0


def test_a_closed_stdout_and_an_ascii_terminal_are_no_tracebacks():
    body = f"import sys; sys.path.insert(0, {str(REPO)!r}); from kws_edge.errors import run_cli; " \
           "sys.exit(run_cli('prog', lambda: print('lumi\\u00e8re')))"
    proc = subprocess.run(f"'{sys.executable}' -c \"{body}\" >&-", shell=True, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and proc.stderr.strip() == \
        "prog: error: standard output is closed; redirect it (> FILE or > /dev/null)", proc.stderr
    proc = subprocess.run([sys.executable, "-c", body], capture_output=True, timeout=60,
                          env={"PYTHONIOENCODING": "ascii", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0 and proc.stdout == b"lumi\\xe8re\n", proc.stderr


def test_a_flag_given_twice_is_refused_or_kept_whole():
    """argparse keeps the last of a repeated flag: `--input A --input B` had read only B."""
    import pytest

    from kws_edge.export import export_cli
    from kws_edge.listen_cli import build_parser as listen_parser
    from kws_edge.training import eval_cli, train_cli

    for parser, argv in ((listen_parser(), ["--input", "a", "--input", "b"]),
                         (eval_cli.build_parser(), ["--model", "m", "--data", "a", "--data", "b"]),
                         (export_cli.build_parser(), ["base", "-o", "a.onnx", "--output", "b.onnx"]),
                         (export_cli.build_parser(), ["base", "-o", "o", "--report", "a", "--report", "b"]),
                         (train_cli.build_parser(), ["--data", "d", "--out", "a", "--out", "b"])):
        with pytest.raises(SystemExit) as stop:
            parser.parse_args(argv)
        assert stop.value.code == 2
    assert listen_parser().parse_args(["--input", "a"]).input == "a"
    # kws-train trains on several datasets: a repeated --data adds to them.
    assert train_cli.build_parser().parse_args(["--data", "a", "b", "--data", "c"]).data == ["a", "b", "c"]
    # So do the other flags that take several values; a word list given twice is refused.
    from kws_edge import record_cli
    from kws_edge.training import synth_cli

    assert train_cli.build_parser().parse_args(["--data", "d", "--negatives", "base", "--negatives",
                                                "talk.wav"]).negatives == ["base", "talk.wav"]
    assert record_cli.build_parser().parse_args(["ds", "--word", "yes", "--input", "a.wav", "--input",
                                                 "b.wav"]).input == ["a.wav", "b.wav"]
    for parser, argv in ((train_cli.build_parser(), ["--data", "d", "--words", "yes", "--words", "no"]),
                         (synth_cli.build_parser(), ["out", "--words", "yes", "--words", "no"]),
                         (record_cli.build_parser(), ["ds", "--words", "yes", "--words", "no"]),
                         (record_cli.build_parser(), ["ds", "--word", "yes", "--word", "no"])):
        with pytest.raises(SystemExit) as stop:
            parser.parse_args(argv)
        assert stop.value.code == 2
