"""A fuzz case: a netcalc command line and the files it runs on, generated from (seed, index).

`make(seed, index, corpus)` is deterministic: the same pair gives the same case on any machine, so
a failure is reproduced with `python -m tests.fuzz --seed S --case I`.
"""

from __future__ import annotations

import random
import shlex
from dataclasses import dataclass, field

from . import mutate
from .corpus import Corpus, Seed

HUGE = mutate.HUGE_DIGITS
LAYER = "\x00layer:"  # explain's LAYER argument: the K-th layer of the spec, resolved when the case runs
HEAVY_RATE = 0.05  # how often an expensive command takes a HEAVY seed (corpus.HEAVY)
VALID_FIRST = ("signal", "verify", "diff", "explain", "lint", "sizes")  # they do little with a broken spec


@dataclass
class Case:
    argv: list[str]  # the arguments after `netcalc`
    files: dict[str, bytes] = field(default_factory=dict)  # relative path -> content, in the case's directory
    dirs: list[str] = field(default_factory=list)  # empty directories to create
    fifos: list[str] = field(default_factory=list)  # named pipes to create
    links: dict[str, str] = field(default_factory=dict)  # symlink -> target
    env: dict[str, str] = field(default_factory=dict)
    origin: list[str] = field(default_factory=list)  # which seeds and mutations made it
    symbols: list[str] = field(default_factory=list)  # the sizes of its seeds, for --set
    seed: int | None = None
    index: int | None = None

    @property
    def command(self) -> str:
        return self.argv[0] if self.argv else ""

    def shell(self, argv: list[str] | None = None) -> str:
        """The command line as a user types it in the case's directory."""
        env = "".join(f"{k}={shlex.quote(v)} " for k, v in self.env.items())
        argv = ["input" if a.startswith(LAYER) else a for a in argv or self.argv]  # not resolved: it timed out
        words = [shlex.quote(a) if len(a) < 200 else f'"$(python3 -c "print({_expr(a)})")"' for a in argv]
        return env + "netcalc " + " ".join(words)


def _expr(text: str) -> str:
    """A long argument as a short Python expression ('H=' + '9' * 5000, 'a/' * 2100 + 'x.yaml')."""
    for start in range(5):
        for unit in range(1, 9):
            u = text[start : start + unit]
            k = 0
            while text.startswith(u, start + k * unit):
                k += 1
            if k * unit > 100:
                rest = text[start + k * unit :]
                parts = [repr(text[:start])] if start else []
                parts.append(f"{u!r} * {k}")
                parts += [repr(rest)] if rest else []
                return " + ".join(parts)
    return repr(text)


def pick(rng: random.Random, items):
    return items[rng.randrange(len(items))]


# --- option values ------------------------------------------------------------------------------

# each option: (values a user usually gives, odd ones); in ODD_CASES of the cases, ODD_RATE of the
# option values are odd (the others take usual values only, so that they get past the options)
ODD_CASES = 0.3
ODD_RATE = 0.5
SET = (["H=224", "W=64", "T=16", "H=1", "H=2", "W=97", "T=4000", "N=4", "C=3", "H=224,W=320", "T=1", "H=64", "W=33"],
       ["H=0", "H=-1", "H=1.5", "H=abc", "H=", "=3", "H", "H=8,H=9", "Q=3", "H=" + HUGE, "H=" + "9" * 4300, "H=١٢",
        "H= 7 ", "H=1e3", "H=0x10", "h=3", "H=224,", ",", "H=18446744073709551616", "T=4001", "H=W", "é=3", "H==3"])  # fmt: skip
BATCH = (["1", "2", "8", "N", "B", "256", "N_batch"],
         ["0", "-1", "H", "T", "abc", "1.5", "", HUGE, "9" * 4300, "1e3", " 4 ", "18446744073709551616", "None", "٣",
          "10000000000000000", "1_000"])  # fmt: skip
CONVENTION = (["pytorch", "keras"], ["tf", "", "PyTorch"])
DTYPE = (["float32", "float16", "bfloat16", "float64", "int8"], ["int32", "", "float"])
DEPTH = (["0", "1", "2", "3"], ["-1", HUGE, "abc", "100", "1.5"])
INIT = (["he_normal", "normal:std=0.01", "orthogonal", "zeros", "ones", "kaiming_normal:mode=fan_out,a=0.1", "default",
         "glorot_uniform", "lecun_normal", "truncated_normal:std=0.02", "xavier_uniform:gain=2", "uniform:low=-1,high=1",
         "variance_scaling:scale=2,mode=fan_out,distribution=uniform"],
        ["normal:std=-1", "normal:std=nan", "normal:std=inf", "uniform:low=1,high=0", "uniform:high=1e308",
         "orthogonal:gain=0", "constant:value=nan", "nope", "", ":", "normal:", "normal:std", "normal:std=",
         "normal:std=" + HUGE, "normal:std=1e-320", "kaiming_normal:mode=x", "he_normal:a=-1", "trunc_normal:a=3,b=-3",
         "variance_scaling:scale=0", "variance_scaling:distribution=uniform,scale=1e308", "glorot_uniform:gain=-1",
         "normal:std=1,std=2", "lecun_normal:x=1", "truncated_normal:std=0"])  # fmt: skip
BAND = (["1", "10", "2", "100", "1.5"], ["0.5", "nan", "inf", "-1", "1e308", "abc", "1e-300", "1.0000001", HUGE])
PLOT = (["out.png", "out.svg", "out.pdf"], ["out.txt", "nodir/out.png", "d", "x" * 300 + ".png", "OUT.PNG", ".png"])
SEEDS = (["1", "2", "3"], ["0", "-1", "abc", HUGE])
SEED = (["0", "1", "7", "12345"],
        ["-1", str(2**32), str(2**32 - 1), str(2**63), str(2**64), HUGE, str(-(2**63)), "abc", "1.5"])  # fmt: skip
MAX_MEMORY = (["64MB", "512MB", "1GB", "100MiB"],
              ["0", "-1GB", "1KB", "1e400GB", "nanGB", "abc", "1.5GiB", HUGE + "B", "∞", "1 GB", "1GB1", "", "0.5B",
               "infGB"])  # fmt: skip
STAT = (["0", "1", "0.5", "0.9", "-0.5"], ["nan", "inf", "-1", "2", "1e308", "-1e308", "abc", "-0.0", HUGE])
SAVE = (["out.json", "stats.json"], ["d", "nodir/out.json", "x" * 300 + ".json", "spec.yaml"])
CODES = (["W3", "E", "W301", "B5", "B501", "E201", "W2", "W", "E1,W2"],
         ["X999", "", "w301", "ALL", "W2,", ",", "W4" * 50])  # fmt: skip
BUDGET = (["25M", "1.5G", "1k", "100", "1", "1e3", "1KB", "512MB", "1GiB", "1TB", "1.5MB", "10000000000000000000000"],
          ["0", "-1", "1e400", "nanM", "abc", HUGE, "25 M", "∞", "0.5", "1 MB", "-1MB", "1e400GB"])  # fmt: skip
DEPTH_BUDGET = (["1", "10", "1000"], ["0", "-1", HUGE, "abc"])
GROWTH = (["0", "10", "5.5", "100"], ["-5", "nan", "inf", "1e308", "abc", HUGE, "-inf", "1e-320"])
SWEEP = (["H=32..512", "H,W=32..64", "H=16,32,100", "T=16..1024", "T=16..1024:64", "H=4..4", "W=8..2048:8",
          "T=1..4000", "H=32..256:32"],
         ["H=1..1000000000:1", "H=512..32", "H=1..10:0", "H=1..10:-1", "H=a..b", "", "H=1..", "H=..5",
          "H=1..100000:1", "H=1.." + HUGE, "X=1..4", "H=1..4,W=1..4", "H=1..4:" + HUGE, "H=0..4",
          "H=" + ",".join(str(i) for i in range(1, 600)), "H,H=1..4", "=1..4", "H=1...4", "H=1..4:1:2", "H=2.5..8",
          "H=" + HUGE, "H=" + "9" * 4300 + "..1"])  # fmt: skip
COLUMNS = ["120"] * 6 + ["60", "80", "200", "1", "0", "abc", "100000", "-5"]
UNKNOWN_OPTIONS = [["--bogus"], ["-z"], ["--format=json"], ["--batch=2"], ["--help"], ["-h"], ["--"], ["--set"],
                   ["--format"], ["--version"], ["-"], ["--format", "--batch"]]  # fmt: skip

FORMATS = {
    "summary": ["table", "json", "markdown", "csv"],
    "signal": ["table", "json", "markdown", "csv"],
    "verify": ["table", "json", "markdown", "csv"],
    "lint": ["text", "json", "github", "sarif"],
    "diff": ["table", "markdown", "json"],
    "sizes": ["text", "json"],
}
BAD_FORMATS = ["xml", "", "JSON", "tab"]

SPECIAL_PATHS = ["missing.yaml", "nodir/x.yaml", "d", "d/", "x" * 300 + ".yaml", "a/" * 2100 + "x.yaml",
                 "fifo.yaml", "/dev/null", "/dev/zero", "-", "", " ", "spec.yaml/", "-x", "loop.yaml",
                 "\udcff.yaml", "é.yaml", "resnet5", "RESNET50", "resnet50.yaml", "./resnet50", "~/x.yaml",
                 "*.yaml", "specs", "tests/errors", "/", "/proc/self/status", ".", ".."]  # fmt: skip


# --- specs --------------------------------------------------------------------------------------


def _seed(rng: random.Random, corpus: Corpus, command: str, bundled: bool = False, symbolic: bool = False) -> Seed:
    if bundled or rng.random() < 0.5:
        pool = corpus.bundled()
    else:  # the specs under tests/; those broken on purpose (tests/errors, 60 of them) less often
        broken = rng.random() < (0.1 if command in VALID_FIRST else 0.25)
        pool = [s for s in corpus.seeds if not s.bundled and s.broken == broken]
    if symbolic and rng.random() < 0.8:
        pool = [s for s in pool if s.symbolic] or pool
    if command == "verify":
        pool = [s for s in pool if s.light] or pool
    for _ in range(20):
        s = pick(rng, pool)
        if command in ("signal", "lint", "verify", "diff") and s.heavy and rng.random() > HEAVY_RATE:
            continue
        return s
    return s


def _special(case: Case, rng: random.Random, corpus: Corpus) -> str:
    path = pick(rng, SPECIAL_PATHS)
    if case.command == "lint" and path == "/":  # lint / reads every YAML file of the machine
        path = "."
    if path in ("d", "d/"):
        case.dirs.append("d")
    elif path == "fifo.yaml":
        case.fifos.append(path)
    elif path == "loop.yaml":
        case.links["loop.yaml"] = "loop2.yaml"
        case.links["loop2.yaml"] = "loop.yaml"
    elif path in ("\udcff.yaml", "é.yaml"):
        case.files[path] = pick(rng, corpus.seeds).data
    elif path == "spec.yaml/":
        case.files["spec.yaml"] = pick(rng, corpus.seeds).data
    case.origin.append(f"path {path[:40]!r}")
    return path


def spec_arg(case: Case, rng: random.Random, corpus: Corpus, name: str = "spec.yaml", symbolic: bool = False) -> str:
    """A spec argument: a bundled name, a copy of a seed, a mutated seed, or an odd path."""
    r = rng.random()
    cmd = case.command
    if r < 0.2:
        s = _seed(rng, corpus, cmd, bundled=True, symbolic=symbolic)
        case.origin.append(f"bundled {s.name}")
        case.symbols += s.symbols
        return s.name
    if r < 0.92:
        s = _seed(rng, corpus, cmd, symbolic=symbolic)
        if r < 0.4:
            data, done = s.data, ["copy"]
        else:  # the commands that only get going on a valid spec get gentle edits half of the time
            gentle = cmd in VALID_FIRST and rng.random() < 0.5
            data, done = mutate.mutate(s.data, s.tree, rng, corpus, gentle)
        case.symbols += s.symbols
        if rng.random() < 0.05:
            name = pick(rng, [name.replace(".yaml", ".yml"), name.replace(".yaml", ""), name.replace(".yaml", ".txt")])
        case.files[name] = data
        case.origin.append(f"{s.name}: {', '.join(done)}")
        return name
    return _special(case, rng, corpus)


# --- commands -----------------------------------------------------------------------------------


def value(rng: random.Random, values: tuple[list[str], list[str]], odd: bool) -> str:
    return pick(rng, values[1] if odd and rng.random() < ODD_RATE else values[0])


def _options(rng: random.Random, table: list[tuple[str, tuple | None, float]]) -> list[str]:
    out: list[str] = []
    odd = rng.random() < ODD_CASES
    for flag, values, p in table:
        if rng.random() < p:
            out += [flag] if values is None else [flag, value(rng, values, odd)]
            if values is not None and odd and rng.random() < 0.1:  # the option given twice
                out += [flag, value(rng, values, odd)]
    return out


def _set(case: Case, rng: random.Random, p: float = 0.25):
    """--set values: mostly for the sizes the spec has, when it has some."""
    if not case.symbols or rng.random() < 0.3:
        return ("--set", SET, p)
    usual = [f"{pick(rng, case.symbols)}={v}" for v in ("1", "2", "3", "7", "16", "64", "100", "224", "1000")]
    odd = [f"{pick(rng, case.symbols)}={v}" for v in ("0", "-1", "1.5", "", "9" * 5000, "10" + "0" * 30, "x")]
    return ("--set", (usual, odd + SET[1]), p + 0.25)


def _sweep(case: Case, rng: random.Random):
    """--sweep values: mostly over a size the spec has."""
    if not case.symbols or rng.random() < 0.3:
        return ("--sweep", SWEEP, 0.45)
    n = pick(rng, case.symbols)
    usual = [f"{n}={r}" for r in ("32..512", "16,32,100", "16..1024", "16..1024:64", "4..4", "8..2048:8", "1..4000")]
    if len(case.symbols) > 1:
        usual.append(f"{','.join(case.symbols[:2])}=32..256")
    odd = [f"{n}={r}" for r in ("1..1000000000:1", "1..100000:1", "512..32", "0..4", "1..10:0", "1..", "1.." + HUGE)]
    return ("--sweep", (usual, odd), 0.5)


def _format(cmd: str, p: float = 0.4):
    return ("--format", (FORMATS[cmd], BAD_FORMATS), p)


def make(seed: int, index: int, corpus: Corpus) -> Case:
    rng = random.Random(f"netcalc-fuzz/{seed}/{index}")
    command = pick(rng, ["summary"] * 22 + ["explain"] * 9 + ["signal"] * 12 + ["lint"] * 14 + ["verify"] * 8
                   + ["diff"] * 10 + ["sizes"] * 13 + ["schema", "specs", "help", "none"])  # fmt: skip
    case = Case([command], seed=seed, index=index)
    args = case.argv
    if command == "summary":
        args.append(spec_arg(case, rng, corpus))
        args += _options(rng, [_format(command), ("--batch", BATCH, 0.25), ("--dtype", DTYPE, 0.1),
                               ("--convention", CONVENTION, 0.2), ("--depth", DEPTH, 0.15), _set(case, rng)])  # fmt: skip
    elif command == "explain":
        args.append(spec_arg(case, rng, corpus))
        args.append(LAYER + str(rng.randrange(1000)) if rng.random() < 0.85 else
                    pick(rng, ["input", "nope", "", "x" * 300, "conv2d_999", "é", "-", "--help"]))  # fmt: skip
        args += _options(rng, [("--convention", CONVENTION, 0.2), _set(case, rng)])
    elif command == "signal":
        args.append(spec_arg(case, rng, corpus))
        opts = [_format(command), ("--init", INIT, 0.3), ("--compare", INIT, 0.2), ("--band", BAND, 0.15),
                ("--plot", PLOT, 0.04), _set(case, rng)]  # fmt: skip
        args += _options(rng, opts)
        if "d" in args:
            case.dirs.append("d")
    elif command == "verify":
        args.append(spec_arg(case, rng, corpus))
        opts = [_format(command), ("--batch", (["1", "2", "4"], ["0", "-1", HUGE, "abc"]), 0.3), ("--seeds", SEEDS, 0.4),
                ("--seed", SEED, 0.3), ("--dtype", (["float64", "float32"], ["float16", ""]), 0.2),
                ("--max-memory", MAX_MEMORY, 0.3), ("--save", SAVE, 0.15), ("--input-mean", STAT, 0.1),
                ("--input-std", STAT, 0.1), ("--input-correlation", STAT, 0.1), _set(case, rng)]  # fmt: skip
        args += _options(rng, opts)
        if "--seeds" not in args:  # the executor's work: 8 seeds by default, a few here
            args += ["--seeds", pick(rng, SEEDS[0][:2])]
        if "--max-memory" not in args:  # the contract's 1 GB, not the default 4 GB
            args += ["--max-memory", "1GB"]
        if "d" in args:
            case.dirs.append("d")
    elif command == "lint":
        n = pick(rng, [1, 1, 1, 2, 3])
        for i in range(n):
            args.append(spec_arg(case, rng, corpus, name="spec.yaml" if i == 0 else f"s{i}.yaml"))
        if rng.random() < 0.08:  # a directory of specs
            for i in range(pick(rng, [1, 2, 3])):
                s = _seed(rng, corpus, command)
                case.files[f"dir/{'sub/' * i}f{i}.yaml"] = mutate.mutate(s.data, s.tree, rng, corpus)[0]
            case.files["dir/.hidden/h.yaml"] = b"netcalc: 1\n"
            case.files["dir/notes.txt"] = b"not yaml"
            args.append("dir")
        if rng.random() < 0.12:
            case.files["pyproject.toml"] = _pyproject(rng)
            case.origin.append("pyproject.toml")
        opts = [_format(command), ("--strict", None, 0.1), ("--no-strict", None, 0.05), ("--select", CODES, 0.15),
                ("--ignore", CODES, 0.15), ("--max-params", BUDGET, 0.1), ("--max-macs", BUDGET, 0.1),
                ("--max-memory", BUDGET, 0.1), ("--max-depth", DEPTH_BUDGET, 0.1),
                ("--max-activation-memory", BUDGET, 0.1), ("--band", BAND, 0.1), ("--specs-only", None, 0.1),
                _set(case, rng, 0.15)]  # fmt: skip
        args += _options(rng, opts)
    elif command == "diff":
        r = rng.random()
        if r < 0.5:  # a spec and a mutation of it: the usual review
            s = _seed(rng, corpus, command)
            case.files["old.yaml"] = s.data
            case.files["new.yaml"], done = mutate.mutate(s.data, s.tree, rng, corpus, gentle=rng.random() < 0.6)
            case.origin.append(f"{s.name} -> {', '.join(done)}")
            case.symbols += s.symbols
            args += ["old.yaml", "new.yaml"]
        else:
            args.append(spec_arg(case, rng, corpus, "old.yaml"))
            args.append(spec_arg(case, rng, corpus, "new.yaml") if rng.random() < 0.9 else args[-1])
        opts = [_format(command), ("--all", None, 0.2), ("--no-signal", None, 0.3), ("--signal", None, 0.05),
                ("--max-params-growth", GROWTH, 0.1), ("--max-macs-growth", GROWTH, 0.1),
                ("--max-memory-growth", GROWTH, 0.1), _set(case, rng)]  # fmt: skip
        args += _options(rng, opts)
    elif command == "sizes":
        args.append(spec_arg(case, rng, corpus, symbolic=True))
        args += _options(
            rng, [_sweep(case, rng), _format(command, 0.3), _set(case, rng, 0.3), ("--batch", BATCH, 0.15)]
        )
    elif command == "help":
        case.argv = [pick(rng, ["summary", "explain", "signal", "lint", "verify", "diff", "sizes", "schema", "specs"]),
                     "--help"]  # fmt: skip
    elif command == "none":
        case.argv = pick(rng, [[], ["--help"], ["bogus"], ["--version"], ["-V"], ["SUMMARY"], ["summ"]])
    if rng.random() < 0.06:  # an unknown option or a stray word somewhere
        extra = pick(rng, [*UNKNOWN_OPTIONS, ["extra"], ["spec.yaml"]])
        at = rng.randrange(1, len(case.argv) + 1) if case.argv else 0
        case.argv[at:at] = extra
    if rng.random() < 0.1:
        case.env["COLUMNS"] = pick(rng, COLUMNS)
    return case


def _pyproject(rng: random.Random) -> bytes:
    values = {
        "max-params": ['"25M"', '"0"', "100", "-1", '"abc"', "1e400", "true", "[]"],
        "select": ['["W3"]', '["X9"]', '"W3"', "[1]", "[]"],
        "ignore": ['["W301"]', '[""]', "3"],
        "strict": ["true", "false", '"yes"', "1"],
        "band": ["10", "0", "nan", "inf", '"x"'],
        "per-file-ignores": ['{"*.yaml" = ["W301"]}', '{"*" = "W3"}', '{"[" = ["W301"]}', "[]"],
        "bogus": ["1"],
    }
    lines = ["[tool.netcalc.lint]"]
    for key in rng.sample(list(values), rng.choice([1, 2, 3])):
        lines.append(f"{key} = {pick(rng, values[key])}")
    text = "\n".join(lines) + "\n"
    if rng.random() < 0.2:
        text = pick(rng, ["[tool.netcalc\n", "[tool.netcalc.lint]\nmax-params = \n", "\x00", "[tool]\nnetcalc = 3\n"])
    return text.encode()
