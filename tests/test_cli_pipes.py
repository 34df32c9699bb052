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
