"""Runs the CLI as a process of its own without paying for its imports each time.

Importing the CLI costs about half a second, most of each command a test runs. A server process imports it once;
each command is a fork of that server with the test's arguments, environment, working directory, no standard
input and its output in files: a process of its own, with its own exit code, as a user's would be. Tests that
signal or kill a command, or time its start, run the installed script instead.

`ROSTERSYNC_TEST_EXEC=1` runs every command from the installed script.
"""

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from typing import Any

# What a command may import late (a reader, a report format, the HTTP app): imported once here too.
_PRELOAD = (
    "worker.cli",
    "api.app",
    "jobs.ledger.report_workbook",
    "connectors.workbook_source",
    "sqlalchemy.dialects.postgresql.asyncpg",
    "sqlalchemy.dialects.sqlite.aiosqlite",
)


def _serve(address: str) -> None:
    import importlib

    for name in _PRELOAD:
        importlib.import_module(name)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(16)
    print("ready", flush=True)
    # The test process holds our standard input: when it ends, so do we. Read from the descriptor: a thread
    # blocked in sys.stdin would hold its lock in every fork, and a command's child process closes sys.stdin.
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    while True:
        conn, _ = listener.accept()
        request = json.loads(conn.makefile("r").readline())
        pid = os.fork()
        if pid == 0:
            listener.close()
            conn.close()
            _command(request)
        conn.sendall(f"{pid}\n".encode())
        threading.Thread(target=_report_exit, args=(conn, pid), daemon=True).start()


def _exit_with_parent() -> None:
    while os.read(0, 4096):
        pass
    os._exit(0)


def _report_exit(conn: socket.socket, pid: int) -> None:
    _, status = os.waitpid(pid, 0)
    with conn:
        conn.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())


def _command(request: dict[str, Any]) -> None:
    """In the forked child: become the command the test asked for, then exit as the interpreter would."""
    code: int = 1
    try:
        os.setpgid(0, 0)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        for fd, path, mode in (
            (0, os.devnull, os.O_RDONLY),
            (1, request["stdout"], os.O_WRONLY),
            (2, request["stderr"], os.O_WRONLY),
        ):
            opened = os.open(path, mode)
            os.dup2(opened, fd)
            os.close(opened)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.argv = [request["argv0"], *request["args"]]
        from worker.cli import app

        app()
        code = 0
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            code = stop.code or 0
        else:
            print(stop.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
    finally:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


class ForkServer:
    def __init__(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="rostersync-cli-")
        self._address = os.path.join(self._dir, "server")
        root = Path(__file__).resolve().parent.parent
        # What is read from the environment on import (a console's width) must come from each command's own.
        neutral = {
            k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES") and not k.startswith("ROSTERSYNC_")
        }
        self._server = subprocess.Popen(
            [sys.executable, __file__, self._address],
            cwd=root,
            env=neutral,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._server.stdout is not None
        if self._server.stdout.readline().strip() != "ready":
            raise RuntimeError("the CLI fork server did not start")
        atexit.register(self.close)

    @property
    def pid(self) -> int:
        return self._server.pid

    def run(
        self, argv0: str, args: list[str], env: dict[str, str], cwd: str | None, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        with tempfile.TemporaryDirectory(dir=self._dir) as scratch:
            stdout, stderr = Path(scratch, "stdout"), Path(scratch, "stderr")
            stdout.touch()
            stderr.touch()
            request = {
                "argv0": argv0,
                "args": args,
                "env": env,
                "cwd": cwd or os.getcwd(),
                "stdout": str(stdout),
                "stderr": str(stderr),
            }
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.connect(self._address)
                conn.sendall((json.dumps(request) + "\n").encode())
                conn.settimeout(timeout)
                answers = conn.makefile("r")
                pid = int(answers.readline())
                try:
                    returncode = int(answers.readline())
                except TimeoutError:
                    os.killpg(pid, signal.SIGKILL)
                    raise subprocess.TimeoutExpired([argv0, *args], timeout) from None
            return subprocess.CompletedProcess(
                [argv0, *args], returncode, stdout.read_text(errors="replace"), stderr.read_text(errors="replace")
            )

    def close(self) -> None:
        if self._server.poll() is None:
            self._server.kill()
            self._server.wait()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    _serve(sys.argv[1])
