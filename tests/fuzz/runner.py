"""Running a case and checking the contract.

The contract: exit 0, 1 or 2 within TIME_LIMIT seconds and MEMORY_LIMIT bytes, nothing printed that
says "internal error" or "Traceback", every input file unchanged.

Time is counted in CPU seconds (user + system): this machine is shared, and a case that takes 4 s
of CPU may take 12 s of wall time when other jobs run. A case that waits without computing (a named
pipe) is stopped after TIME_LIMIT of wall time, any case after WALL_FACTOR × TIME_LIMIT (_Clock).

Two ways to run a case:

- `Worker`: a long-lived child process (multiprocessing, spawn) that has imported netcalc once and
  runs cases in-process: it calls the console entry's `cli._run()` with sys.argv set (as
  `python -m netcalc` does, minus the interpreter start-up), with NETCALC_DEBUG=1 so that an internal
  error arrives here as the exception itself (its type and innermost netcalc frame are the crash
  signature). A hang is cut by interval timers whose handlers raise `Timeout` where the code is
  (a signature too). Memory: the peak resident size of the case (VmHWM, reset through
  /proc/self/clear_refs before it) is checked against MEMORY_LIMIT, and RLIMIT_AS, set to the
  process's current size + ADDRESS_LIMIT before each case, stops a runaway allocation with a
  MemoryError where it happens. (Address space is not the contract: NumPy reserves untouched zeros
  lazily, and verify's dry build reserves a network's weights without using them.)
  The parent kills a worker that does not answer in time (a hang in C code) and starts another.
- `run_subprocess`: `python -m netcalc ...` as a user runs it, with RLIMIT_AS in a preexec_fn, the
  CPU time from /proc/PID/stat while it runs and the peak RSS from wait4: the contract as stated,
  at ~0.4 s of interpreter start-up per case.

Every case runs in a fresh temporary directory holding copies of its files.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import multiprocessing
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from .cases import LAYER, Case
from .corpus import ROOT, SPECS

TIME_LIMIT = 10.0  # seconds per case
MEMORY_LIMIT = 1 << 30  # bytes per case: the peak resident size
ADDRESS_LIMIT = 4 << 30  # bytes of address space a case may add: the guard against a runaway allocation
WALL_FACTOR = 6.0  # a case is stopped after WALL_FACTOR × TIME_LIMIT of wall time, however loaded the machine
BLOCKED = 0.1  # ... or after TIME_LIMIT of wall time with less than this fraction of it spent computing
GRACE = 5.0  # seconds the parent waits past WALL_FACTOR × TIME_LIMIT before it kills a silent worker
KEEP_OUTPUT = 4000  # characters of stdout/stderr kept in a result
BAD_TEXT = ("internal error", "Traceback")
NETCALC = str(ROOT / "netcalc") + os.sep
ENTRY = ("netcalc/cli.py:", "netcalc/__main__.py:")  # frames above the stage a command runs in
ENV = {"NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "120", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
       "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg"}  # fmt: skip


@dataclass
class Result:
    code: int | None  # the exit code (None: no exit, see signature)
    elapsed: float  # wall-clock seconds
    rss: int  # peak resident bytes during the case (0 when unknown)
    stdout: str
    stderr: str
    argv: list[str]  # the arguments as run (LAYER resolved)
    signature: str | None = None  # None when the case kept the contract
    detail: str = ""  # the exception message, the innermost frames, what changed
    slow: bool = False  # finished in time only when run again (a loaded machine)
    cpu: float = 0.0  # CPU seconds (user + system) of the case


class Timeout(BaseException):
    """Raised by the interval timer where the case is when it runs past TIME_LIMIT (a BaseException:
    netcalc's `except Exception` must not swallow it); `blocked` when it was waiting, not computing."""

    def __init__(self, message: str, blocked: bool = False) -> None:
        super().__init__(message)
        self.blocked = blocked


# --- the case's directory -----------------------------------------------------------------------


def materialize(case: Case, where: str) -> None:
    for d in case.dirs:
        os.makedirs(os.path.join(where, d), exist_ok=True)
    for name, data in case.files.items():
        path = os.path.join(os.fsencode(where), os.fsencode(name))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    for name in dict.fromkeys(case.fifos):  # a path named twice on the command line is one pipe
        os.mkfifo(os.path.join(where, name))
    for name, target in case.links.items():
        os.symlink(target, os.path.join(where, name))


def _hashes(where: str, argv: list[str]) -> dict[str, str]:
    """Content hashes of every regular file in the case's directory, and of the bundled specs the
    arguments name."""
    out = {}
    for dirpath, _, files in os.walk(os.fsencode(where)):
        for f in files:
            path = os.path.join(dirpath, f)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as fh:
                    out[os.fsdecode(path)] = hashlib.sha256(fh.read()).hexdigest()
    for a in argv:
        stem = a[:-5] if a.endswith(".yaml") else a
        p = SPECS / f"{stem}.yaml"
        if "/" not in stem and stem and len(stem) < 200 and p.is_file():
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _changed(before: dict, after: dict) -> list[str]:
    return sorted(p for p, h in before.items() if after.get(p) != h)


def resolve(argv: list[str], names_of) -> list[str]:
    """explain's LAYER placeholder -> the K-th layer name of the spec (argv[1]) as `names_of(spec)`
    reads it, or 'input' when the spec cannot be read."""
    if not any(a.startswith(LAYER) for a in argv):
        return list(argv)
    try:
        names = names_of(argv[1]) or ["input"]
    except Exception:  # a spec netcalc cannot read: the case runs with 'input' (and fails on its own)
        names = ["input"]
    return [names[int(a[len(LAYER) :]) % len(names)] if a.startswith(LAYER) else a for a in argv]


def _names_in_process(spec: str) -> list[str]:
    from netcalc.analyze import analyze
    from netcalc.diagnostics import Diagnostics
    from netcalc.pipeline import locate
    from netcalc.spec import load

    diags = Diagnostics()
    located = locate(spec, diags)
    graph = load(located[0], diags) if located else None
    if graph is None or diags.has_errors():
        return []
    return [row.node.name for row in analyze(graph, diags).rows]


def _names_subprocess(spec: str, where: str, env: dict) -> list[str]:
    import json

    try:
        got = subprocess.run([sys.executable, "-m", "netcalc", "summary", "--format", "json", os.fsencode(spec)],
                             cwd=where, env=env, capture_output=True, timeout=TIME_LIMIT, stdin=subprocess.DEVNULL)  # fmt: skip
        return [layer["name"] for layer in json.loads(got.stdout)["layers"]]
    except (subprocess.TimeoutExpired, ValueError, KeyError, TypeError):
        return []


# --- signatures ---------------------------------------------------------------------------------


def frames(tb) -> tuple[str, str, list[str]]:
    """The innermost netcalc frame of a traceback ('netcalc/x.py:function'), the stage (the
    outermost netcalc frame below the CLI: spec.py:load, analyze.py:analyze, signal.py:propagate...)
    and the last frames as text."""
    tb_frames = traceback.extract_tb(tb)
    ours = [f"netcalc/{fr.filename[len(NETCALC) :]}:{fr.name}" for fr in tb_frames if fr.filename.startswith(NETCALC)]
    inner = ours[-1] if ours else "outside netcalc"
    stage = next((f for f in ours if not f.startswith(ENTRY)), inner)
    shown = [f"{Path(fr.filename).name}:{fr.lineno} {fr.name}" for fr in tb_frames[-8:]]
    return inner, stage, shown


def signature_of(exc: BaseException) -> tuple[str, str]:
    """(signature, detail) of an exception that escaped netcalc: the type and the innermost netcalc
    frame; for a timeout or a MemoryError, which happen wherever the code is at the time, the
    stage instead (a case that waits without computing: `Blocked` at the innermost frame)."""
    inner, stage, shown = frames(exc.__traceback__)
    if isinstance(exc, Timeout):
        sig = f"Blocked @ {inner}" if exc.blocked else f"Timeout @ {stage}"
    elif isinstance(exc, MemoryError):
        sig = f"MemoryError @ {stage}"
    else:
        sig = f"{type(exc).__name__} @ {inner}"
    return sig, f"{type(exc).__name__}: {str(exc)[:300]}\n  " + "\n  ".join(shown)


def bad_text(out: str, err: str) -> str | None:
    for word in BAD_TEXT:
        if word in out or word in err:
            return word
    return None


# --- in-process ---------------------------------------------------------------------------------


class _Capture(io.StringIO):
    """stdout/stderr of a case: the first KEEP_OUTPUT characters and the presence of BAD_TEXT."""

    def __init__(self) -> None:
        super().__init__()
        self.size = 0
        self.bad = None

    def write(self, s: str) -> int:
        self.size += len(s)
        if self.bad is None:
            self.bad = bad_text(s, "")
        if self.tell() < KEEP_OUTPUT:
            super().write(s[: KEEP_OUTPUT - self.tell()])
        return len(s)

    def isatty(self) -> bool:
        return False


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class _Clock:
    """The time limit of the case running in this process, in CPU seconds (user + system, the
    ITIMER_PROF timer), so that a machine shared with other jobs does not turn a slow case into a
    timeout; and in wall-clock seconds for a case that waits without computing (a named pipe): at
    each TIME_LIMIT of wall time the case is stopped when it has used less than BLOCKED of it, and
    at WALL_FACTOR × TIME_LIMIT in any case."""

    limit = TIME_LIMIT
    start = 0.0
    cpu = 0.0

    @classmethod
    def arm(cls, limit: float) -> None:
        cls.limit, cls.start, cls.cpu = limit, time.monotonic(), time.process_time()
        signal.setitimer(signal.ITIMER_PROF, limit)
        signal.setitimer(signal.ITIMER_REAL, limit)

    @classmethod
    def disarm(cls) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)

    @classmethod
    def on_prof(cls, signum, frame):
        raise Timeout(f"more than {cls.limit:g} s of CPU time")

    @classmethod
    def on_alarm(cls, signum, frame):
        wall = time.monotonic() - cls.start
        cpu = time.process_time() - cls.cpu
        if cpu < BLOCKED * wall:
            raise Timeout(f"waiting: {wall:.0f} s with {cpu:.1f} s of CPU time", blocked=True)
        if wall >= WALL_FACTOR * cls.limit - 0.01:
            raise Timeout(f"more than {wall:.0f} s of wall time ({cpu:.1f} s of CPU time)")
        signal.setitimer(signal.ITIMER_REAL, min(cls.limit, WALL_FACTOR * cls.limit - wall))


def _base(pid: int) -> str:
    return os.path.join(tempfile.gettempdir(), f"netcalc-fuzz-{pid}")


def _case_dir() -> str:
    """A fresh directory for a case, inside a folder of this process's own: `..` seen from the case
    (lint .. walks it) holds nothing but the case."""
    os.makedirs(_base(os.getpid()), exist_ok=True)
    return tempfile.mkdtemp(prefix="case-", dir=_base(os.getpid()))


def cleanup(pid: int | None = None) -> None:
    """Remove the case folder of a process (this one by default), and what a killed case left in it."""
    shutil.rmtree(_base(pid or os.getpid()), ignore_errors=True)


def run_in_process(case: Case, time_limit: float = TIME_LIMIT, address_limit: int = ADDRESS_LIMIT) -> Result:
    from netcalc import cli

    where = _case_dir()
    home = os.getcwd()
    saved_env = dict(os.environ)
    saved_argv = sys.argv
    streams = sys.stdout, sys.stderr, sys.stdin
    out, err = _Capture(), _Capture()
    code, signature, detail = None, None, ""
    elapsed = cpu = 0.0
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    try:
        materialize(case, where)
        before = _hashes(where, case.argv)
        argv = list(case.argv)
        os.chdir(where)
        os.environ.update(case.env)
        sys.stdout, sys.stderr, sys.stdin = out, err, io.StringIO("")
        limit = _status("VmSize") + address_limit
        if hard == resource.RLIM_INFINITY or limit < hard:
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        measured = _reset_peak()
        try:
            _Clock.arm(time_limit)  # explain's layer name, when the case has one, has a limit of its own
            argv = resolve(case.argv, _names_in_process)
            sys.argv = ["netcalc", *argv]
            _Clock.arm(time_limit)
            fault = os.environ.get(FAULT)
            code = _fault(fault) if fault else cli._run()
        except BaseException as exc:  # every escape is a finding
            signature, detail = signature_of(exc)
        finally:
            _Clock.disarm()
            elapsed, cpu = time.monotonic() - _Clock.start, time.process_time() - _Clock.cpu
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        rss = _status("VmHWM") if measured else 0
    finally:
        sys.stdout, sys.stderr, sys.stdin = streams
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(home)
    after = _hashes(where, argv)
    shutil.rmtree(where, ignore_errors=True)
    if signature is None:
        signature, detail = _verdict(case, code, cpu, rss, out.bad or err.bad, _changed(before, after))
    return Result(code, elapsed, rss, out.getvalue(), err.getvalue(), argv, signature, detail, cpu=cpu)


FAULT = "NETCALC_FUZZ_FAULT"  # a case with this in its env runs a failure of that kind instead of netcalc


def _fault(kind: str) -> int:
    """Failures made on purpose, for tests/test_fuzz.py to check that each one is caught."""
    if kind == "raise":
        raise ValueError("a fault made on purpose")
    if kind == "spin":
        while True:
            pass
    if kind == "wait":
        time.sleep(3600)
    if kind == "alloc":
        return len(bytearray(2 * ADDRESS_LIMIT))
    if kind == "rss":  # resident: every byte written
        return len(b"\x01" * (MEMORY_LIMIT + (64 << 20))) and 0
    if kind == "die":  # as the kernel's OOM killer or a crash in C would
        os.kill(os.getpid(), signal.SIGKILL)
    if kind == "touch":
        with open("spec.yaml", "ab") as f:
            f.write(b"#")
    if kind == "print":
        sys.stderr.write("Traceback (most recent call last):\n")
    return 3 if kind == "exit3" else 0


def _verdict(case: Case, code, cpu: float, rss: int, bad: str | None, changed: list[str]):
    cmd = case.command or "netcalc"
    if changed:
        return f"modified-input @ {cmd}", "changed: " + ", ".join(changed)
    if code not in (0, 1, 2):
        return f"exit {code} @ {cmd}", ""
    if bad:
        return f"printed '{bad}' @ {cmd}", ""
    if cpu > TIME_LIMIT:
        return f"Timeout @ {cmd} (finished)", f"{cpu:.1f} s of CPU time"
    if rss > MEMORY_LIMIT:
        return f"Memory @ {cmd}", f"peak {rss / 2**20:.0f} MiB"
    return None, ""


def _serve(conn, root: str) -> None:
    """The worker's loop: cases in, results out."""
    os.environ.update(ENV)
    os.environ["NETCALC_DEBUG"] = "1"
    sys.path.insert(0, root)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # anything written past sys.stdout (a C library, a stray print) goes nowhere
        os.dup2(null, fd)
    import numpy  # noqa: F401 -- imported once here, not in the first case that needs it

    import netcalc.cli

    assert netcalc.cli.__file__.startswith(root), netcalc.cli.__file__
    signal.signal(signal.SIGALRM, _Clock.on_alarm)
    signal.signal(signal.SIGPROF, _Clock.on_prof)
    while True:
        try:
            job = conn.recv()
        except EOFError:
            job = None
        if job is None:
            cleanup()
            return
        case, time_limit = job
        conn.send(run_in_process(case, time_limit))


class Worker:
    """A child process running cases in-process; restarted after a case that failed or killed it."""

    def __init__(self) -> None:
        self.proc = None
        self.conn = None
        self.cases = 0

    def start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, str(ROOT)), daemon=True)
        self.proc.start()
        child.close()
        self.conn = parent
        self.cases = 0

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(OSError, BrokenPipeError):
            self.conn.send(None)
        self.proc.join(2)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        cleanup(self.proc.pid)
        self.conn.close()
        self.proc = None

    def run(self, case: Case, time_limit: float = TIME_LIMIT) -> Result:
        if self.proc is None or self.cases >= 300:  # a fresh process now and then: caches and arenas grow
            self.stop()
            self.start()
        self.cases += 1
        start = time.monotonic()
        try:
            self.conn.send((case, time_limit))
            # two clocks at most (explain: its layer name, then the run); the first case waits for the imports
            if self.conn.poll(2 * WALL_FACTOR * time_limit + GRACE + 60 * (self.cases == 1)):
                result = self.conn.recv()
                if result.signature:
                    self.stop()  # a case that failed may leave half-imported modules or a full heap behind
                return result
            what = "Hang (the worker did not answer)"
        except (EOFError, OSError):
            self.proc.join(5)
            what = f"Died (worker exit {self.proc.exitcode})"
        elapsed = time.monotonic() - start
        self.stop()
        return Result(None, elapsed, 0, "", "", list(case.argv), f"{what} @ {case.command}")


# --- subprocess ---------------------------------------------------------------------------------

# the interpreter, typer, NumPy and SymPy take ~140 MB of address space before netcalc does anything
AS_BASE = 512 << 20


def run_subprocess(case: Case, debug: bool = False, time_limit: float = TIME_LIMIT) -> Result:
    """`python -m netcalc ...` in a fresh directory: the contract exactly as a user meets it."""
    where = _case_dir()
    materialize(case, where)
    before = _hashes(where, case.argv)
    env = {**os.environ, **ENV, "PYTHONPATH": str(ROOT), **case.env}
    env.pop("NETCALC_DEBUG", None)
    argv = resolve(case.argv, lambda spec: _names_subprocess(spec, where, env))
    if debug:
        env["NETCALC_DEBUG"] = "1"

    def limits():
        resource.setrlimit(resource.RLIMIT_AS, (AS_BASE + ADDRESS_LIMIT, AS_BASE + ADDRESS_LIMIT))

    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        start = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-X", "faulthandler", "-m", "netcalc", *(os.fsencode(a) for a in argv)],
            cwd=where, env=env, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe, preexec_fn=limits,
        )  # fmt: skip
        status, usage, killed = None, None, None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            wall, cpu = time.monotonic() - start, _cpu_of(proc.pid)
            if cpu > time_limit or (wall > time_limit and cpu < BLOCKED * wall) or wall > WALL_FACTOR * time_limit:
                killed = f"stopped after {wall:.1f} s with {cpu:.1f} s of CPU time"
                status, usage = _stop(proc)  # SIGABRT first: faulthandler prints where it was
                break
            time.sleep(0.02)
        elapsed = time.monotonic() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        fo.seek(0)
        fe.seek(0)
        out = fo.read().decode("utf-8", "replace")
        err = fe.read().decode("utf-8", "replace")
    after = _hashes(where, argv)
    shutil.rmtree(where, ignore_errors=True)
    rss = usage.ru_maxrss * 1024
    cpu = usage.ru_utime + usage.ru_stime
    if killed:
        ours = _netcalc_frames(err)[::-1]  # faulthandler lists the most recent call first
        sig, detail = _signature("Timeout", ours, blocked=cpu < BLOCKED * elapsed), f"{killed}\n{err[-1500:]}"
    elif debug and "Traceback" in err:
        sig, detail = _from_traceback(err), err[-1500:]
    elif not debug and (code == 3 or "internal error" in err):  # again with NETCALC_DEBUG=1: the traceback
        again = run_subprocess(case, debug=True, time_limit=time_limit)
        sig, detail = again.signature or f"exit {code} @ {case.command}", again.detail
    else:
        sig, detail = _verdict(case, code, cpu, rss, bad_text(out, err), _changed(before, after))
    return Result(code, elapsed, rss, out[:KEEP_OUTPUT], err[:KEEP_OUTPUT], argv, sig, detail, cpu=cpu)


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far, from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _stop(proc) -> tuple[int, object]:
    """SIGABRT (the interpreter runs with -X faulthandler, which prints every thread's frames), then
    SIGKILL if it is still there after a few seconds; (status, rusage)."""
    proc.send_signal(signal.SIGABRT)
    end = time.monotonic() + 3
    while time.monotonic() < end:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            return status, usage
        time.sleep(0.02)
    proc.kill()
    _, status, usage = os.wait4(proc.pid, 0)
    return status, usage


def _netcalc_frames(err: str) -> list[str]:
    """The netcalc frames ('netcalc/x.py:function') of a printed traceback or faulthandler dump, in
    the order printed."""
    import re

    out = []
    for m in re.finditer(r'File "([^"]+)", line \d+,? in (\S+)', err):
        if m[1].startswith(NETCALC):
            out.append(f"netcalc/{m[1][len(NETCALC) :]}:{m[2]}")
    return out


def _signature(kind: str, ours: list[str], blocked: bool = False) -> str:
    """The signature from the netcalc frames, outermost first (see signature_of)."""
    inner = ours[-1] if ours else "outside netcalc"
    stage = next((f for f in ours if not f.startswith(ENTRY)), inner)
    if kind == "Timeout":
        return f"Blocked @ {inner}" if blocked else f"Timeout @ {stage}"
    return f"{kind} @ {stage if kind == 'MemoryError' else inner}"


def _from_traceback(err: str) -> str:
    """The signature from a printed traceback (NETCALC_DEBUG=1): the exception's type and the
    innermost netcalc frame (the stage for a MemoryError)."""
    import re

    tail = err[err.rfind("Traceback (most recent call last)") :]
    kind = "Traceback"
    for line in tail.splitlines():
        m = re.match(r"^([A-Za-z_][\w.]*)(:|$)", line)
        if m and m[1] != "Traceback":
            kind = m[1].rsplit(".", 1)[-1]
    if kind.endswith("MemoryError"):  # numpy's _ArrayMemoryError
        kind = "MemoryError"
    return _signature(kind, _netcalc_frames(tail))
