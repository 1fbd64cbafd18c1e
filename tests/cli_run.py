"""Running the CLI as a user does: a process of its own, a fixed terminal width, stdout then stderr.

Each run is a child forked from tests/cli_fork.py's server (the interpreter and the libraries
imported once per session; see there), or a real `python -m netcalc` subprocess where a fork could
differ, or everywhere with NETCALC_TESTS_SUBPROCESS=1."""

from __future__ import annotations

import atexit
import json
import locale
import os
import select
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from cli_fork import startup_env

ROOT = Path(__file__).resolve().parent.parent
WIDTH = "120"


def netcalc(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess:
    return run_cli(args, cwd=cwd, timeout=timeout)


def run_cli(args, cwd: Path = ROOT, timeout: float = 120, stdin: bytes | None = None, text: bool = True,
            env: dict | None = None) -> subprocess.CompletedProcess:  # fmt: skip
    """`python -m netcalc ARGS` in cwd, with `stdin` as its input (else nothing to read), output
    captured (decoded as subprocess.run(text=True) decodes it, or bytes); `env` is the whole
    environment (default: this one with a 120-column dumb terminal, no colour, no NETCALC_DEBUG)."""
    env = default_env() if env is None else env
    argv = [str(a) for a in args]
    server = _Server.get(env)
    if server is None:
        result = subprocess.run([sys.executable, "-m", "netcalc", *argv], cwd=cwd, env=env, capture_output=True,
                                input=stdin if stdin is not None else b"", timeout=timeout)  # fmt: skip
        out, err = result.stdout, result.stderr
    else:
        result, out, err = server.run(argv, cwd, env, stdin, timeout)
    if text:
        out, err = _decode(out), _decode(err)
    return subprocess.CompletedProcess(result.args, result.returncode, out, err)


def default_env() -> dict:
    env = {**os.environ, "COLUMNS": WIDTH, "NO_COLOR": "1", "TERM": "dumb"}
    env.pop("NETCALC_DEBUG", None)
    return env


def _decode(data: bytes) -> str:
    """As subprocess.run(text=True): the locale's encoding, universal newlines."""
    return data.decode(locale.getpreferredencoding(False)).replace("\r\n", "\n").replace("\r", "\n")


class _Server:
    """The session's fork server (started on first use; None where it cannot serve this run)."""

    instance: _Server | None = None
    failed = False

    @classmethod
    def get(cls, env: dict) -> _Server | None:
        if os.environ.get("NETCALC_TESTS_SUBPROCESS") == "1" or cls.failed or not hasattr(os, "fork"):
            return None
        if cls.instance is None:
            try:
                cls.instance = cls(env)
            except (OSError, ValueError):
                cls.failed = True
                return None
        return cls.instance if startup_env(env) == cls.instance.startup else None

    def __init__(self, env: dict) -> None:
        self.startup = startup_env(env)
        self.dir = tempfile.TemporaryDirectory(prefix="netcalc-cli-")
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("cli_fork.py"))], cwd=ROOT,
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
        if self.proc.stdout.readline() != "ready\n":
            raise ValueError("the fork server did not start")
        atexit.register(self.close)

    def run(self, argv, cwd, env, stdin, timeout):
        paths = {name: os.path.join(self.dir.name, name) for name in ("stdin", "stdout", "stderr")}
        for name in ("stdout", "stderr"):
            open(paths[name], "wb").close()
        if stdin is not None:
            Path(paths["stdin"]).write_bytes(stdin)
        req = {"argv": argv, "cwd": str(cwd), "env": env, "stdin": paths["stdin"] if stdin is not None else None,
               "stdout": paths["stdout"], "stderr": paths["stderr"]}  # fmt: skip
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        pid = json.loads(self.proc.stdout.readline())["pid"]
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        status = json.loads(self.proc.stdout.readline())["status"]
        out, err = Path(paths["stdout"]).read_bytes(), Path(paths["stderr"]).read_bytes()
        cmd = [sys.executable, "-m", "netcalc", *argv]
        if not ready:
            raise subprocess.TimeoutExpired(cmd, timeout, out, err)
        return subprocess.CompletedProcess(cmd, status, out, err), out, err

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        self.dir.cleanup()


def shown(result: subprocess.CompletedProcess) -> str:
    """What a user sees in a terminal (stdout, then stderr), without trailing spaces."""
    text = result.stdout + result.stderr
    return "\n".join(line.rstrip() for line in text.splitlines())
