"""A Python with the CLI's libraries already imported that forks one fresh child per `netcalc` run.

`python -m netcalc` spends most of a short run starting up: the interpreter, typer and rich, and on
the paths that need them NumPy (0.15 s) and sympy (0.75 s). Most of the suite's tests run the CLI,
so cli_run starts this server once per test session and asks it for each run instead of a
new interpreter. The child is still a process of its own, forked from a server that has imported
only third-party libraries (no netcalc module, no test state): it gets the run's working directory,
environment, argv, stdin and its own stdout and stderr files, imports netcalc afresh and runs
`python -m netcalc` as the interpreter would (runpy, the working directory first on sys.path), and
its exit status is the run's. What the fork cannot reproduce makes cli_run fall back to a real
subprocess: an environment that changes how the interpreter starts (PYTHON*, the locale), or
NETCALC_TESTS_SUBPROCESS=1 (every run a real subprocess, as a user's; test_cli_fork compares both).

Protocol (one JSON line each way): the client sends {argv, cwd, env, stdin, stdout, stderr}; the
server answers {"pid": ...} once forked and {"status": ...} (the exit code, or −signal) when the
child ends.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import sys

PRELOAD = ("click", "typer", "rich.console", "rich.table", "rich.text", "yaml", "numpy", "sympy")


def startup_env(env) -> dict:
    """The variables that decide how an interpreter starts (encodings, paths, flags): a run whose
    values differ from the server's cannot be forked from it."""
    return {k: v for k, v in env.items() if k.startswith(("PYTHON", "LC_")) or k in ("LANG", "LANGUAGE")}


def _streams() -> None:
    """sys.stdin/stdout/stderr over fds 0/1/2, made as the interpreter made the server's own (the
    same environment, and files or pipes in both: block-buffered stdout, line-buffered stderr)."""
    for name, fd, mode in (("stdin", 0, "rb"), ("stdout", 1, "wb"), ("stderr", 2, "wb")):
        old = getattr(sys, name)
        raw = io.FileIO(fd, mode[0], closefd=False)
        buffered = io.BufferedReader(raw) if mode == "rb" else io.BufferedWriter(raw)
        stream = io.TextIOWrapper(buffered, encoding=old.encoding, errors=old.errors,
                                  line_buffering=old.line_buffering, write_through=old.write_through)  # fmt: skip
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def _child(req: dict) -> None:
    """The forked run: never returns."""
    try:
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        for fd, path, flags in ((0, req["stdin"] or os.devnull, os.O_RDONLY), (1, req["stdout"], os.O_WRONLY),
                                (2, req["stderr"], os.O_WRONLY)):  # fmt: skip
            opened = os.open(path, flags | (os.O_TRUNC if fd else 0))
            os.dup2(opened, fd)
            os.close(opened)
        _streams()
        sys.path[0] = os.getcwd()  # `python -m` puts the working directory first
        sys.argv = ["-m", *req["argv"]]
        import runpy

        runpy.run_module("netcalc", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # as an interpreter reports an uncaught exception
        import traceback

        traceback.print_exc()
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def serve() -> None:
    for name in PRELOAD:
        # an optional library missing: the child imports it, or not, as a user's run would
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    import gc

    gc.freeze()  # the preloaded objects stay shared with the children, not copied on their first collection
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    replies.write("ready\n")
    for line in sys.stdin:
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(req)
        replies.write(json.dumps({"pid": pid}) + "\n")
        _, status = os.waitpid(pid, 0)
        replies.write(json.dumps({"status": os.waitstatus_to_exitcode(status)}) + "\n")


if __name__ == "__main__":
    serve()
