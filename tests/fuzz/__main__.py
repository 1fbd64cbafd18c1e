"""python -m tests.fuzz: a fuzz campaign, or one case again.

    python -m tests.fuzz --minutes 30                 # random seed, printed first
    python -m tests.fuzz --seed 123 --minutes 5 --jobs 2
    python -m tests.fuzz --seed 123 --case 4567       # that case alone: its command, files and result
    python -m tests.fuzz --seed 123 --cases 2000 --subprocess

Each crash signature (the exception's type and the innermost netcalc frame; for a timeout or a
MemoryError the stage it happened in, such as spec.py:load; for a case that waited without computing,
"Blocked" and the innermost frame) is printed once, with the first case shrunk and written as a reproducer
(reproduce.sh, the files, signature.txt) under --out. Exit 1 when a signature is not in
known.KNOWN_OPEN.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

from .engine import Campaign


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, help="run for this long (default 5 unless --cases)")
    p.add_argument("--cases", type=int, help="run this many cases")
    p.add_argument("--seed", type=int, help="the campaign's seed (default: random, printed)")
    p.add_argument("--start", type=int, default=0, help="the first case index")
    p.add_argument("--case", type=int, help="run only this case of --seed, and show it")
    p.add_argument("--jobs", "-j", type=int, default=1, help="cases run in parallel (one worker process each)")
    p.add_argument("--subprocess", action="store_true", help="each case as `python -m netcalc` (slower, exact)")
    p.add_argument("--out", type=Path, default=Path("fuzz-crashes"), help="where reproducers go")
    p.add_argument("--no-shrink", action="store_true", help="write the first case of each signature as it is")
    p.add_argument("--shrink-seconds", type=float, default=60.0, help="time to shrink each signature's case")
    p.add_argument("--journal", type=Path, help="write one JSON line per case (command, exit, time) here")
    p.add_argument("--skip-known", action="store_true", help="do not shrink or write the known open signatures")
    args = p.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**6)
    print(f"netcalc fuzz: seed {seed} (reproduce with --seed {seed})", flush=True)
    journal = args.journal.open("w", encoding="utf-8", errors="backslashreplace") if args.journal else None
    campaign = Campaign(seed, jobs=args.jobs, subprocess=args.subprocess, journal=journal)
    try:
        if args.case is not None:
            return _one(campaign, args.case, args)
        minutes = args.minutes if args.minutes is not None or args.cases is not None else 5.0
        campaign.run(cases=args.cases, minutes=minutes, start=args.start, progress=30.0)
        return _report(campaign, args)
    finally:
        campaign.close()
        if journal:
            journal.close()


def _one(campaign: Campaign, index: int, args) -> int:
    case = campaign.case(index)
    result = campaign.run_case(case)
    print(f"case {index}: {'; '.join(case.origin)}")
    print(f"$ {case.shell(result.argv)}")
    print(f"exit {result.code} in {result.elapsed:.2f} s, peak {result.rss / 2**20:.0f} MiB")
    print(result.stdout[:2000] + result.stderr[:2000])
    if result.signature is None:
        print("the contract holds")
        return 0
    campaign._record(case, result)
    finding = campaign.findings[result.signature]
    if not args.no_shrink:
        campaign.shrink(finding, args.shrink_seconds)
    campaign.write(finding, args.out, 1)
    print(campaign.describe(finding))
    return 1


def _report(campaign: Campaign, args) -> int:
    s = campaign.stats
    print(f"\n{s.cases} cases in {s.seconds:.0f} s ({s.rate:.1f} cases/s), {s.slow} over the time limit once "
          f"but in time when run again")  # fmt: skip
    print("per command (cases, mean s): " + ", ".join(
        f"{c} {n} {t / n:.2f}" for c, (n, t) in sorted(s.by_command.items())))  # fmt: skip
    print("exit codes: " + ", ".join(f"{k}: {v}" for k, v in sorted(s.exits.items(), key=str)))
    findings = sorted(campaign.findings.values(), key=lambda f: (f.known is not None, f.signature))
    print(f"{len(findings)} signature(s), {sum(f.known is None for f in findings)} new\n")
    for number, f in enumerate(findings, 1):
        if f.known and args.skip_known:
            print(f"{f.signature}   [known: {f.known}] ({f.count} cases)\n")
            continue
        if not args.no_shrink:
            start = time.monotonic()
            campaign.shrink(f, args.shrink_seconds / (3 if f.known else 1))
            print(f"  (shrunk in {time.monotonic() - start:.0f} s)", file=sys.stderr)
        campaign.write(f, args.out, number)
        print(campaign.describe(f) + "\n", flush=True)
    return 1 if any(f.known is None for f in findings) else 0


if __name__ == "__main__":
    sys.exit(main())
