"""`make run` comforts: PORT passes through, a busy port is one clear line, Ctrl+C ends make without an error."""

import os
import pty
import select
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from devtools.run_local import banner, runner_command

ROOT = Path(__file__).resolve().parents[3]


def _dry_run(*args: str) -> str:
    result = subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_make_run_passes_port_through_and_defaults_to_7071():
    assert '-m devtools.run_local --port "8080"' in _dry_run("run", "PORT=8080")
    assert '-m devtools.run_local --port "7071"' in _dry_run("run")


def test_make_drop_samples_takes_a_folder_and_defaults_to_the_repository_samples():
    assert '-m devtools.drop_samples --samples "/tmp/other"' in _dry_run("drop-samples", "DIR=/tmp/other")
    assert '-m devtools.drop_samples --samples "samples"' in _dry_run("drop-samples")


def test_the_banner_and_the_runner_use_the_chosen_port():
    text = banner(8080, "k")
    assert "http://127.0.0.1:8080/api" in text and "http://127.0.0.1:8080/admin/functions/" in text
    assert "7071" not in text
    command = runner_command(8080)
    assert command[command.index("--port") + 1] == "8080"


@pytest.fixture
def busy_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("module", ["devtools.run_local", "devtools.localrunner"])
def test_a_busy_port_is_one_clear_line_without_a_traceback(busy_port, module):
    env = {**os.environ, "LOCAL_FUNCTION_KEY": "k"}
    args = [sys.executable, "-m", module, "--port", str(busy_port)]
    if module == "devtools.localrunner":
        args += ["--settings", str(ROOT / "local.settings.sample.json")]
    started = time.monotonic()
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    problem = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(problem) == 1 and f"port {busy_port}" in problem[0] and "already in use" in problem[0], problem
    assert f"PORT={busy_port + 1}" in problem[0]
    if module == "devtools.run_local":
        assert "Azurite" not in result.stdout and time.monotonic() - started < 30, "refused before starting anything"


CHILD = textwrap.dedent("""
    import signal, sys, time
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))   # as the local runner: stop, exit 0
    print("child ready", flush=True)
    while True:
        time.sleep(0.1)
""")


def _make_under_a_terminal(tmp_path: Path, recipe: str) -> tuple[int, str]:
    """Run `make` as the foreground job of a fresh pseudo-terminal, press Ctrl+C once the child is up."""
    (tmp_path / "child.py").write_text(CHILD)
    (tmp_path / "Makefile").write_text(f"run:\n\t{recipe}\n")
    pid, master = pty.fork()
    if pid == 0:  # the child: a session leader whose controlling terminal is the pty
        # As in a terminal: a test run started in the background (`nohup make test &`) inherits SIGINT
        # ignored, and make would then ignore the Ctrl+C this test presses.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.chdir(tmp_path)
        os.environ["PYTHONPATH"] = str(ROOT)
        os.execvp("make", ["make", "--no-print-directory", "run"])
    output, deadline, interrupted = b"", time.monotonic() + 60, False
    while True:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: every process on the terminal has gone
                break
            if not chunk:
                break
            output += chunk
        if not interrupted and b"child ready" in output:
            time.sleep(0.3)
            os.write(master, b"\x03")  # Ctrl+C: the terminal sends SIGINT to its foreground process group
            interrupted = True
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            break
    _, status = os.waitpid(pid, 0)
    os.close(master)
    assert interrupted, output.decode(errors="replace")
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


def test_ctrl_c_ends_make_run_with_exit_0_and_no_make_error(tmp_path):
    recipe = (
        f'@{sys.executable} -c "import sys; from devtools.run_local import run_foreground; '
        f"sys.exit(run_foreground([sys.executable, 'child.py']))\""
    )
    code, output = _make_under_a_terminal(tmp_path, recipe)
    assert code == 0, output
    assert "***" not in output and "Interrupt" not in output and "Error" not in output, output


def test_without_the_handover_make_itself_is_interrupted(tmp_path):
    """The control: the same child run directly is what `make run` used to do, and make reports the interrupt."""
    code, output = _make_under_a_terminal(tmp_path, f"@{sys.executable} child.py")
    assert code != 0, output
