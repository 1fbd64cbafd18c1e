"""The campaign: generate cases from a seed, run them (in worker processes or as subprocesses),
group the failures by signature, shrink the first case of each signature and write reproducers."""

from __future__ import annotations

import json
import os
import re
import shlex
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import cases as cases_mod
from . import corpus as corpus_mod
from . import runner
from .cases import Case
from .known import known
from .runner import TIME_LIMIT, Result, Worker, run_subprocess

SLOW_KINDS = ("Timeout", "Blocked", "Hang", "Memory", "MemoryError", "Died")


@dataclass
class Finding:
    signature: str
    case: Case
    result: Result
    count: int = 1
    commands: set = field(default_factory=set)
    small: Case | None = None  # the shrunk case
    small_result: Result | None = None
    where: Path | None = None  # the reproducer's directory

    @property
    def known(self) -> str | None:
        return known(self.signature)


@dataclass
class Stats:
    cases: int = 0
    seconds: float = 0.0
    slow: int = 0  # over the time limit once, in time when run again
    by_command: dict = field(default_factory=dict)  # command -> [cases, seconds]
    exits: dict = field(default_factory=dict)  # exit code -> cases

    @property
    def rate(self) -> float:
        return self.cases / self.seconds if self.seconds else 0.0


def _kind(signature: str) -> str:
    return signature.split(" ", 1)[0]


def same_failure(sig: str, got: str | None, command: str, got_command: str) -> bool:
    """Whether a shrunk case still shows the failure: the same signature, or for a hang or memory
    failure (which may move from one stage to another as the case shrinks) the same kind and command."""
    if got is None:
        return False
    if got == sig:
        return True
    return _kind(sig) in SLOW_KINDS and _kind(got) == _kind(sig) and command == got_command


class Campaign:
    def __init__(self, seed: int, jobs: int = 1, subprocess: bool = False, log=print, journal=None) -> None:
        self.seed = seed
        self.jobs = max(1, jobs)
        self.subprocess = subprocess
        self.log = log
        self.journal = journal  # a text file: one JSON line per case
        self.corpus = corpus_mod.load()
        self.findings: dict[str, Finding] = {}
        self.stats = Stats()
        self._lock = threading.Lock()
        self._workers = [Worker() for _ in range(self.jobs)]

    # -- running ---------------------------------------------------------------------------------

    def case(self, index: int) -> Case:
        return cases_mod.make(self.seed, index, self.corpus)

    def run_case(self, case: Case, worker: Worker | None = None) -> Result:
        """One case; a case over the time limit is run once more (fresh process) before it counts,
        so that a loaded machine does not report a slow but finite case as a hang."""
        worker = worker or self._workers[0]
        result = run_subprocess(case) if self.subprocess else worker.run(case)
        if result.signature and _kind(result.signature) in ("Timeout", "Hang") and not known(result.signature):
            # (a Blocked case is not retried: it waited without computing, which load does not explain)
            again = run_subprocess(case) if self.subprocess else worker.run(case)
            if again.signature is None:
                again.slow = True
                return again
        return result

    def run(self, cases: int | None = None, minutes: float | None = None, start: int = 0, progress: float = 0):
        """Cases start, start + 1, ... until `cases` have run or `minutes` have passed."""
        deadline = time.monotonic() + minutes * 60 if minutes else None
        began = time.monotonic()
        counter = iter(range(start, start + cases) if cases is not None else _count(start))
        last = [began]

        def loop(worker: Worker) -> None:
            while True:
                with self._lock:
                    if deadline is not None and time.monotonic() > deadline:
                        return
                    index = next(counter, None)
                if index is None:
                    return
                try:
                    case = self.case(index)
                except Exception as exc:  # the fuzzer's own bug: say so, and go on with the campaign
                    self.log(f"  case {index}: the fuzzer could not make it ({type(exc).__name__}: {exc})")
                    continue
                result = self.run_case(case, worker)
                self._record(case, result)
                if progress and time.monotonic() - last[0] > progress:
                    with self._lock:
                        last[0] = time.monotonic()
                        n, took = self.stats.cases, last[0] - began
                        self.log(f"  {n} cases in {took:.0f} s ({n / took:.1f}/s), {len(self.findings)} signatures")

        threads = [threading.Thread(target=loop, args=(w,), daemon=True) for w in self._workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for w in self._workers:
            w.stop()
        self.stats.seconds = time.monotonic() - began
        return self.findings

    def _record(self, case: Case, result: Result) -> None:
        with self._lock:
            s = self.stats
            s.cases += 1
            s.slow += result.slow
            per = s.by_command.setdefault(case.command or "-", [0, 0.0])
            per[0] += 1
            per[1] += result.elapsed
            s.exits[result.code] = s.exits.get(result.code, 0) + 1
            if self.journal is not None:
                row = {"case": case.index, "argv": [a[:100] for a in result.argv[:12]], "origin": case.origin,
                       "exit": result.code, "seconds": round(result.elapsed, 3), "signature": result.signature,
                       "error": next((line[:200] for line in result.stderr.splitlines() if " error " in line), None)}  # fmt: skip
                self.journal.write(json.dumps(row, ensure_ascii=False) + "\n")
            if result.signature is None:
                return
            f = self.findings.get(result.signature)
            if f is None:
                f = self.findings[result.signature] = Finding(result.signature, case, result)
            else:
                f.count += 1
            f.commands.add(case.command)

    def close(self) -> None:
        for w in self._workers:
            w.stop()
        runner.cleanup()

    # -- shrinking -------------------------------------------------------------------------------

    def shrink(self, finding: Finding, seconds: float = 60.0, trials: int = 200) -> None:
        """The smallest case found (by removing arguments, files, lines, then characters) that
        still fails the same way, within the budget. A hang is shrunk with half the time limit
        (each trial that still hangs costs the limit), and the result confirmed with the full one."""
        deadline = time.monotonic() + seconds
        sig, command = finding.signature, finding.case.command
        best, best_result = finding.case, finding.result
        budget = [trials]
        worker = self._workers[0]
        slow = _kind(sig) in SLOW_KINDS
        limit = TIME_LIMIT / 2 if slow else TIME_LIMIT

        def fails(c: Case) -> Result | None:
            if budget[0] <= 0 or time.monotonic() > deadline:
                return None
            budget[0] -= 1
            r = run_subprocess(c, time_limit=limit) if self.subprocess else worker.run(c, limit)
            return r if same_failure(sig, r.signature, command, c.command) else None

        def attempt(c: Case) -> bool:
            nonlocal best, best_result
            r = fails(c)
            if r is not None:
                best, best_result = c, r
            return r is not None

        # arguments, one or two at a time, from the end (not the command itself)
        i = len(best.argv) - 1
        while i >= 1:
            for n in (2, 1):
                if i + n <= len(best.argv) and attempt(_with(best, argv=best.argv[:i] + best.argv[i + n :])):
                    break
            i -= 1
        # whole files, then lines (of the file rewritten one layer a line, when it still fails so),
        # then characters of the small ones
        for name in list(best.files):
            if not attempt(_with(best, files={k: v for k, v in best.files.items() if k != name})):
                for text in _reflowed(best.files[name]):
                    if attempt(_with(best, files={**best.files, name: text})):
                        break
                for unit in (b"\n", None):
                    data = best.files[name]
                    if unit is None and len(data) > 600:
                        break
                    parts = data.split(b"\n") if unit else [bytes([x]) for x in data]
                    joiner = b"\n" if unit else b""
                    parts = _ddmin(parts, lambda ps, name=name, joiner=joiner: attempt(
                        _with(best, files={**best.files, name: joiner.join(ps)})))  # fmt: skip
        if slow and best is not finding.case:
            r = run_subprocess(best) if self.subprocess else worker.run(best)
            if not same_failure(sig, r.signature, command, best.command):
                return  # over half the limit but not over the limit: keep the case as found
            best_result = r
        finding.small, finding.small_result = best, best_result

    # -- reporting -------------------------------------------------------------------------------

    def write(self, finding: Finding, out: Path, number: int) -> Path:
        case = finding.small or finding.case
        result = finding.small_result or finding.result
        slug = re.sub(r"[^a-z0-9]+", "-", finding.signature.lower()).strip("-")[:60]
        where = out / f"{number:02d}-{slug}"
        where.mkdir(parents=True, exist_ok=True)
        for name, data in case.files.items():
            p = os.path.join(os.fsencode(where), os.fsencode(name))
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as fh:
                fh.write(data)
        setup = [f"mkdir -p {shlex.quote(d)}" for d in case.dirs]
        setup += [f"[ -p {shlex.quote(f)} ] || mkfifo {shlex.quote(f)}" for f in case.fifos]
        setup += [f"ln -sfn {shlex.quote(t)} {shlex.quote(n)}" for n, t in case.links.items()]
        script = [
            "#!/bin/sh",
            f"# {finding.signature}",
            f"# found by: python -m tests.fuzz --seed {finding.case.seed} --case {finding.case.index}",
            'cd "$(dirname "$0")"',
            *setup,
            case.shell(result.argv),
            "",
        ]
        # a file name that is not UTF-8 (b"\xff.yaml", held as a lone surrogate) is written as its bytes
        (where / "reproduce.sh").write_text("\n".join(script), encoding="utf-8", errors="surrogateescape")
        (where / "reproduce.sh").chmod(0o755)
        (where / "signature.txt").write_text(
            f"{finding.signature}\n{finding.count} case(s); commands: {', '.join(sorted(finding.commands))}\n"
            f"origin: {'; '.join(finding.case.origin)}\n\n{result.detail}\n\nexit {result.code}, "
            f"{result.elapsed:.2f} s, peak {result.rss / 2**20:.0f} MiB\n--- stdout\n{result.stdout}\n"
            f"--- stderr\n{result.stderr}\n",
            encoding="utf-8",
            errors="surrogateescape",
        )
        finding.where = where
        return where

    def describe(self, finding: Finding, lines: int = 25) -> str:
        case = finding.small or finding.case
        result = finding.small_result or finding.result
        label = f"known: {finding.known}" if finding.known else "NEW"
        out = [
            f"{finding.signature}   [{label}]",
            f"  {finding.count} case(s), commands {', '.join(sorted(finding.commands))}; first: "
            f"--seed {finding.case.seed} --case {finding.case.index}",
            f"  {result.detail.splitlines()[0][:200] if result.detail else ''}",
            f"  $ {case.shell(result.argv)[:300]}",
        ]
        for d in case.dirs:
            out.append(f"    (directory {d}/)")
        for f in case.fifos:
            out.append(f"    (named pipe {f})")
        for name, data in case.files.items():
            text = data.decode("utf-8", "backslashreplace").splitlines()
            out.append(f"    --- {name} ({len(data)} bytes)")
            out += [f"    {line[:160]}" for line in text[:lines]]
            if len(text) > lines:
                out.append(f"    ... {len(text) - lines} more lines")
        if finding.where:
            out.append(f"  reproducer: {finding.where}/reproduce.sh")
        return "\n".join(out)


def _reflowed(data: bytes) -> list[bytes]:
    """The spec in block style with flow leaves (one layer a line), then all in block style; none
    when PyYAML does not read it or cannot write it back (a 5,000-digit number)."""
    import yaml

    out = []
    try:
        tree = yaml.safe_load(data)
        for flow in (None, False):
            text = yaml.safe_dump(tree, default_flow_style=flow, sort_keys=False, allow_unicode=True, width=10**6)
            if text.encode() != data:
                out.append(text.encode())
    except (yaml.YAMLError, ValueError, RecursionError, UnicodeError):
        pass
    return out


def _with(case: Case, **changes) -> Case:
    fields = {**case.__dict__, **changes}
    return Case(**fields)


def _ddmin(parts: list, test) -> list:
    """Delta debugging by removal: drop chunks (halves, quarters, ... single items) while `test`
    still fails; returns the smallest list kept."""
    n = 2
    while len(parts) >= 2:
        chunk = max(1, len(parts) // n)
        removed = False
        for start in range(0, len(parts), chunk):
            trial = parts[:start] + parts[start + chunk :]
            if trial and test(trial):
                parts = trial
                n = max(n - 1, 2)
                removed = True
                break
        if not removed:
            if chunk == 1:
                break
            n = min(n * 2, len(parts))
    return parts


def _count(start: int):
    i = start
    while True:
        yield i
        i += 1


__all__ = ["TIME_LIMIT", "Campaign", "Finding", "same_failure"]
