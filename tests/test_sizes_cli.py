"""`netcalc sizes`, `--sweep`, `--set`, `--batch` and the symbolic summary through the CLI: the declared
constraints in a sweep, values of symbolic parameter counts, values that a symbolic batch leaves
alone, a spec whose defaults cannot be analysed, `diff --set`, and the usage errors (E107).

Every expected number is worked out by hand in the comment beside it."""

from __future__ import annotations

import json
import textwrap

import pytest
from cli_run import ROOT, netcalc

from netcalc import pipeline

# H: min 32, max 512, multiple of 32; W: multiple of 16 (the reviewer's con.yaml)
CON = """
netcalc: 1
name: con
symbols:
  H: {default: 64, min: 32, max: 512, divisible: 32, description: height}
  W: {default: 64, divisible: 16}
input: {shape: [3, H, W]}
layers:
  - {op: conv2d, filters: 8, kernel: 3, stride: 2, padding: 1}
  - {op: global_avgpool2d}
"""

# keras counting; the parameters of the last dense layer depend on T (the flattened length)
SEQ = """
netcalc: 1
name: seq
convention: keras
symbols:
  T: {default: 50}
input: {shape: [T, 16]}
layers:
  - {op: conv1d, filters: 32, kernel: 5, stride: 2, padding: same}
  - {op: maxpool1d, kernel: 3, stride: 3}
  - {op: gru, units: 24, return_sequences: true, bidirectional: true}
  - {op: lstm, units: 8, return_sequences: true, num_layers: 2}
  - {op: dense, units: 4}
  - {op: flatten}
  - {op: dense, units: 2}
"""

# parameters polynomial in the block width C
BLK2 = """
netcalc: 1
name: blk2
symbols:
  C: {default: 16, divisible: 8}
  H: 32
input: {shape: [3, H, H]}
blocks:
  stage:
    params: {width: int, stride: 1}
    layers:
      - {op: conv2d, filters: $width, kernel: 3, stride: $stride, padding: 1}
      - {op: batchnorm}
      - {op: relu}
      - {op: conv2d, filters: "${width * 2}", kernel: 1}
      - {op: conv2d, filters: "${width // 3 + 1}", kernel: 1}
layers:
  - {use: stage, width: C, repeat: 2, first: {stride: 2}}
  - {op: global_avgpool2d}
  - {op: dense, units: C}
"""

# 1×H×8 → maxpool 2 → 1×⌊H/2⌋×4 → reshape [4, 4]: 4·⌊H/2⌋ = 16 elements
RESHAPE = """
netcalc: 1
name: rs
symbols: {{H: {default}}}
input: {{shape: [1, H, 8]}}
layers:
  - {{op: maxpool2d, kernel: 2}}
  - {{op: reshape, shape: [4, 4]}}
"""

# a batch symbol declared for the batch (used in no shape), and T
BATCHED = """
netcalc: 1
name: batched
symbols:
  T: 10
  N: {default: 8, description: batch size}
input: {shape: [T, 4]}
layers:
  - {op: dense, units: 2}
"""

# one 3×3 convolution over a 1×H×H image, 'same' size: 9·filters·H² MACs
CONV = """
netcalc: 1
name: {name}
symbols: {{H: 8}}
input: {{shape: [1, H, H]}}
layers:
  - {{op: conv2d, filters: {filters}, kernel: 3, padding: 1}}
"""


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def sweep_rows(stdout: str) -> dict:
    """{value: the 'valid size' cell} from the sweep table (the last column after 'MACs ×')."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "valid size" in line) + 2
    rows = {}
    for line in lines[start:]:
        if not line.startswith("  ") or line.startswith("  ("):
            break
        cells = line.split()
        at = next(i for i, c in enumerate(cells) if c in ("yes", "no"))
        rows[int(cells[0])] = " ".join(cells[at:])
    return rows


# --- 1. the sweep's "valid size" honours min/max/divisible ---


def test_sweep_marks_values_above_the_declared_max():
    out = netcalc("sizes", "lstm-classifier-t", "--sweep", "T=1024..8192")
    assert out.returncode == 0, out.stderr
    # T: max 4096 in specs/lstm-classifier-t.yaml; every T ≥ 1 divides (no strided layer)
    assert sweep_rows(out.stdout) == {1024: "yes", 2048: "yes", 4096: "yes", 8192: "no (max 4096)"}
    # MACs 917504·T + 1280 at T = 8192: 7,516,192,768 + 1,280
    assert "8192  7,516,194,048" in out.stdout
    assert "outside what the spec declares for T under symbols:" in out.stdout
    # no row breaks a layer's condition: no note about dropped rows
    assert "a framework drops rows" not in out.stdout


def test_sweep_marks_min_and_divisible(tmp_path):
    spec = write(tmp_path, "con", CON)
    out = netcalc("sizes", spec, "--sweep", "H=16..1024")
    assert out.returncode == 0, out.stderr
    # 16 < min 32; 32..512 are multiples of 32 in range; 1024 > max 512
    assert sweep_rows(out.stdout) == {
        16: "no (min 32)", 32: "yes", 64: "yes", 128: "yes", 256: "yes", 512: "yes", 1024: "no (max 512)",
    }  # fmt: skip
    listed = netcalc("sizes", spec, "--sweep", "H=40,100")
    # 40 and 100 are not multiples of 32. MACs 27·8 per output × ⌈H/2⌉·⌈64/2⌉ outputs = 6912·⌈H/2⌉:
    # H = 40: 6912·20 = 138,240
    assert sweep_rows(listed.stdout) == {40: "no (multiple of 32)", 100: "no (multiple of 32)"}
    assert "40   138,240" in listed.stdout
    both = netcalc("sizes", spec, "--sweep", "H,W=40,64", "--format", "json")
    rows = json.loads(both.stdout)["sweep"]["rows"]
    # 40: neither a multiple of 32 (H) nor of 16 (W); 64: both
    assert [(r["value"], r["valid"], r["divides"], r["declared_against"]) for r in rows] == [
        (40, False, True, ["H: multiple of 32", "W: multiple of 16"]),
        (64, True, True, None),
    ]


# --- 2. symbolic parameter counts get their value ---


def test_symbolic_params_show_their_value(tmp_path):
    spec = write(tmp_path, "seq", SEQ)
    out = netcalc("summary", spec)
    assert out.returncode == 0, out.stderr
    # keras counting at T = 50: conv1d 5·16·32 + 32 = 2,592; bidirectional GRU (reset_after)
    # 2·(3·24·(32 + 24) + 2·3·24) = 8,352; LSTM 8 ×2 layers 4·8·(48 + 8) + 32 + 4·8·(8 + 8) + 32 = 2,368;
    # dense 8·4 + 4 = 36; flatten: ⌈50/2⌉ = 25 → ⌊25/3⌋ = 8 = ⌊(T + 1)/6⌋ steps × 4 = 32 → dense 32·2 + 2 = 66.
    # 2,592 + 8,352 + 2,368 + 36 + 66 = 13,414
    assert "Total params                 8·⌊(T + 1)/6⌋ + 13350 = 13,414\n" in out.stdout
    assert "Trainable params             8·⌊(T + 1)/6⌋ + 13350 = 13,414\n" in out.stdout
    assert "Non-trainable params         0\n" in out.stdout
    # per-layer cells stay formulas, as the MACs cells do
    assert "│ 8·⌊(T + 1)/6⌋ + 2 │    8·⌊(T + 1)/6⌋ │" in out.stdout
    md = netcalc("summary", spec, "--format", "markdown")
    assert "- **Total params**: 8·⌊(T + 1)/6⌋ + 13350 = 13,414\n" in md.stdout
    doc = json.loads(netcalc("summary", spec, "--format", "json").stdout)
    assert doc["totals"]["params"] == "8*floor(T/6 + 1/6) + 13350" and doc["totals"]["params_value"] == 13414


def test_params_polynomial_in_a_width(tmp_path):
    out = netcalc("summary", write(tmp_path, "blk2", BLK2))
    assert out.returncode == 0, out.stderr
    # C = 16, ⌊C/3⌋ + 1 = 6. Repetition 1: conv 3→16 3×3 27·16 + 16 = 448, batchnorm 2·16 = 32,
    # conv 16→32 1×1 512 + 32 = 544, conv 32→6 192 + 6 = 198: 1,222. Repetition 2: conv 6→16 3×3
    # 9·6·16 + 16 = 880, + 32 + 544 + 198 = 1,654. Dense 6→16: 96 + 16 = 112. 1,222 + 1,654 + 112 = 2,988
    assert "Total params                 4·C² + 14·C·⌊(C + 3)/3⌋ + 38·C + 2·⌊C/3⌋ + 2 = 2,988\n" in out.stdout
    # batchnorm running mean and variance, 2·C per layer, two layers: 4·16 = 64
    assert "Buffers (not params)         4·C = 64\n" in out.stdout


# --- 3. a symbolic batch leaves the other figures their values ---


def test_symbolic_batch_keeps_values_that_do_not_involve_it():
    out = netcalc("summary", "lstm-classifier-t", "--batch", "N", "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    t = doc["totals"]
    # per step 4·256·(128 + 256) + 4·256·(256 + 256) = 917,504; dense 256·5 = 1,280; T = 200:
    # 183,500,800 + 1,280
    assert t["macs"] == "917504*T + 1280" and t["macs_value"] == 183_502_080
    # FLOPs 1843712·T + 2580 at T = 200: 368,742,400 + 2,580
    assert t["flops_value"] == 368_744_980
    # figures with N (no default) have no value
    assert t["macs_batch_value"] is None and t["total_bytes_value"] is None and doc["batch_value"] is None
    lstm = next(layer for layer in doc["layers"] if layer["name"] == "lstm_1")
    # 393216·T at T = 200; output T×256
    assert lstm["macs_value"] == 78_643_200 and lstm["output_shape_value"] == [200, 256]
    assert doc["spec"]["inputs"][0]["shape_value"] == [200]
    table = netcalc("summary", "lstm-classifier-t", "--batch", "N")
    assert "MACs per sample              917504·T + 1280 = 183,502,080 (183.50 M)\n" in table.stdout
    assert "MACs for batch N             N·(917504·T + 1280)\n" in table.stdout
    assert "figures with N are formulas only" in table.stdout


# --- 4. a spec whose default breaks a reshape ---


def test_sizes_answers_when_the_default_breaks_a_reshape(tmp_path):
    spec = write(tmp_path, "rs4", RESHAPE.format(default=4))
    out = netcalc("sizes", spec)
    # 4·⌊H/2⌋ = 16 ⇔ ⌊H/2⌋ = 4 ⇔ H ∈ {8, 9}; the pooling reads every row ⇔ H even: H = 8 only.
    # At H = 4: 4·2 = 8 elements, not 16
    assert out.returncode == 0, out.stderr
    assert "H: H = 8\n" in out.stdout
    assert "  8 ≤ H ≤ 9      reshape_1: element count 16 (line 8)\n" in out.stdout
    assert "  default H = 4: NOT valid (nearest valid: 8)\n" in out.stdout
    assert "worked out at H = 8" in out.stdout
    doc = json.loads(netcalc("sizes", spec, "--format", "json").stdout)
    sym = doc["symbols"][0]
    assert doc["analysed_at"] == {"H": 8} and sym["default_valid"] is False and sym["smallest"] == [8]


def test_sizes_lists_only_conditions_that_restrict(tmp_path):
    out = netcalc("sizes", write(tmp_path, "rs8", RESHAPE.format(default=8)))
    assert out.returncode == 0, out.stderr
    assert "any H" not in out.stdout
    assert (
        "H: H = 8\n"
        "  smallest: 8\n"
        "  H ≥ 2          maxpool2d_1: output height at least 1 (line 7)\n"
        "  H ≡ 0 (mod 2)  maxpool2d_1: height divided exactly by the stride 2 (line 7)\n"
        "  8 ≤ H ≤ 9      reshape_1: element count 16 (line 8)\n"
        "  default H = 8: valid\n"
    ) in out.stdout
    assert "worked out at" not in out.stdout


# --- 5. diff --set ---


def test_diff_takes_set(tmp_path):
    old = write(tmp_path, "old", CONV.format(name="old", filters=2))
    new = write(tmp_path, "new", CONV.format(name="new", filters=4))
    out = netcalc("diff", old, new, "--set", "H=16", "--no-signal", "--format", "json")
    assert out.returncode == 0, out.stderr
    macs = json.loads(out.stdout)["totals"]["macs"]
    # 9·2·16² = 4,608 and 9·4·16² = 9,216 (at the default H = 8 they would be 1,152 and 2,304)
    assert (macs["old"], macs["new"]) == (4608, 9216)
    default = json.loads(netcalc("diff", old, new, "--no-signal", "--format", "json").stdout)["totals"]["macs"]
    assert (default["old"], default["new"]) == (1152, 2304)
    # a symbol only one side has is applied there; one neither has is an error
    half = netcalc("diff", old, "alexnet-lite", "--set", "H=16", "--no-signal", "--format", "json")
    assert half.returncode == 0, half.stderr
    assert json.loads(half.stdout)["totals"]["macs"]["old"] == 4608
    bad = netcalc("diff", old, new, "--set", "h=16")
    assert bad.returncode == 2
    assert f"error E107: --set h=16: neither {old} nor {new} has a symbol 'h' (did you mean 'H'?)" in bad.stderr
    broken = netcalc("diff", old, new, "--set", "H=0")
    assert broken.returncode == 2 and "the value must be a positive integer, got '0'" in broken.stderr


# --- 6. --batch with a name the spec uses as a size ---


def test_batch_cannot_be_a_size_of_the_spec(tmp_path):
    out = netcalc("summary", "unet-small", "--batch", "H")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert (
        "--batch: error E107: --batch H: H is a size of the spec (unet-small.yaml line 13), not a batch size; "
        "name the batch with a symbol of its own, such as --batch N" in out.stderr
    )
    assert netcalc("sizes", "unet-small", "--batch", "W").returncode == 2
    # a symbol declared for the batch and used in no shape is the batch, with its default
    ok = netcalc("summary", write(tmp_path, "batched", BATCHED), "--batch", "N")
    assert ok.returncode == 0, ok.stderr
    # dense 4→2 per step: 8 MACs × T = 10 steps = 80; × N = 8: 640
    assert "MACs per sample              8·T = 80\n" in ok.stdout
    assert "MACs for batch N             8·N·T = 640\n" in ok.stdout


# --- 7. a symbol or a sweep given twice; the batch in sizes' labels ---


@pytest.mark.parametrize("sets", [["H=64,H=96"], ["H=64", "H=96"]])
def test_set_twice_is_an_error(sets):
    args = [a for s in sets for a in ("--set", s)]
    out = netcalc("summary", "unet-small", *args)
    assert out.returncode == 2
    assert "--set: error E107: --set H: H is given twice (H=64, H=96); give each symbol once" in out.stderr


def test_sweep_twice_is_an_error():
    twice = netcalc("sizes", "lstm-classifier-t", "--sweep", "T=16..32", "--sweep", "T=64")
    assert twice.returncode == 2
    assert "error E107: --sweep is given 2 times (T=16..32, T=64)" in twice.stderr
    same = netcalc("sizes", "lstm-classifier-t", "--sweep", "T,T=1..4")
    assert same.returncode == 2
    assert "error E107: --sweep T,T: T is given twice, got 'T,T=1..4'" in same.stderr


def test_sizes_labels_the_batch():
    out = netcalc("sizes", "lstm-classifier-t", "--batch", "N")
    assert out.returncode == 0, out.stderr
    # 917504·T per sample, × N
    assert "  MACs (batch N)                ≈ 917504·N·T: quadratic in N, T\n" in out.stdout
    assert "  total memory (batch N, bytes) ≈ 1544·N·T" in out.stdout
    four = netcalc("sizes", "lstm-classifier-t", "--batch", "4", "--sweep", "T=16")
    # 4·(917504·16 + 1280) = 4·14,681,344 = 58,725,376
    assert "MACs (batch 4)                3670016·T + 5120\n" in four.stdout
    assert "  T   MACs (batch 4)  FLOPs (batch 4)" in four.stdout
    assert "  16      58,725,376" in four.stdout
    one = netcalc("sizes", "lstm-classifier-t")
    assert "  MACs                   ≈ 917504·T: linear in T\n" in one.stdout


SHRINK = """
netcalc: 1
name: shrink
symbols: {C: 16}
input: {shape: [3, 8, 8]}
blocks:
  b:
    params: {width: int}
    layers:
      - {op: conv2d, filters: "${40 - width}", kernel: 3, padding: 1}
layers:
  - {use: b, width: C}
"""


def test_sizes_of_a_width_that_shrinks_as_the_symbol_grows(tmp_path):
    # filters = 40 − C ≥ 1 ⇔ C ≤ 39: a condition that holds below a size, not above it
    spec = write(tmp_path, "shrink", SHRINK)
    out = netcalc("sizes", spec)
    assert out.returncode == 0, out.stderr
    assert "C: C ≤ 39\n" in out.stdout and "default C = 16: valid" in out.stdout
    for c, ok in ((1, True), (39, True), (40, False), (41, False)):  # brute force at the edges
        r = netcalc("summary", spec, "--set", f"C={c}")
        assert (r.returncode == 0) == ok, (c, r.stderr)


def _valid(res: dict, x: int) -> bool:
    """A value `sizes --format json` allows: above the minimum, in the residues, in the listed values."""
    return x >= res["minimum"] and x % res["modulus"] in res["residues"] and (res["only"] is None or x in res["only"])


def _concrete_ok(spec: str, **values) -> bool:
    """The concrete engine at these values, as `netcalc summary --set` runs it (in this process: 40
    values per case): no error and no W201 (what `sizes` calls valid)."""
    sets = [",".join(f"{k}={v}" for k, v in values.items())]
    analysis, _, _ = pipeline.analyse(str(spec), sets=sets, symbolic=True)
    if analysis is None or not analysis.ok:
        return False
    return not any(d.code == "W201" for d in analysis.diags.items)


TWO = """
netcalc: 1
name: two
symbols: {H: 20, H2: 20}
input:
  - {name: img, shape: [3, H, 20]}
  - {name: mask, shape: [1, H2, 20]}
layers:
  - {op: conv2d, filters: 4, kernel: 3, padding: 1, stride: 2, in: img}
  - {op: maxpool2d, kernel: 2, in: mask, id: m}
  - {op: concat, in: [conv2d_1, m]}
"""

BROADCAST = """
netcalc: 1
name: bc
symbols: {H: 3}
input: {shape: [4, H, H]}
layers:
  - {op: conv2d, filters: 8, kernel: 3, stride: 2, id: a}
  - {op: conv2d, filters: 8, kernel: 3, padding: 1, in: input, id: b}
  - {op: add, in: [a, b]}
"""

WIDTHS = """
netcalc: 1
name: widths
symbols: {C: 8}
input: {shape: [4, 6, 6]}
blocks:
  s:
    params: {width: int}
    layers:
      - {op: conv2d, filters: "FIRST", kernel: 3}
      - {op: conv2d, filters: $width, kernel: 3, groups: 2}
layers:
  - {use: s, width: C}
"""

SHORTCUT = """
netcalc: 1
name: option-a
symbols: {F: 8, G: 16}
input: {shape: [16, 8, 8]}
blocks:
  b:
    params: {f: int, g: int}
    layers:
      - {op: conv2d, filters: "${2 * f}", kernel: 3, padding: 1, id: main}
      - {op: shortcut, in: input, mode: A, filters: $g, id: skip}
      - {op: concat, in: [main, skip]}
layers:
  - {use: b, f: F, g: G}
"""


# PyTorch's AvgPool3d refuses a depth below its kernel 3 even with padding (T ≥ 3); the strided
# conv3d reads every frame only when (T − 3) is even
CLIP = """
netcalc: 1
name: clip
symbols: {T: 9}
input: {shape: [2, T, 6, 6]}
outputs: [avgpool3d_1, conv3d_1]
layers:
  - {op: avgpool3d, kernel: [3, 2, 2], stride: 2, padding: [1, 0, 0]}
  - {op: conv3d, filters: 2, kernel: 3, stride: [2, 1, 1], in: input}
"""


@pytest.mark.parametrize("text, name, expected, others", [
    # ⌈H/2⌉ (conv k3 p1 s2) = ⌊20/2⌋ (pool of H2 = 20, the default) ⇔ H ∈ {19, 20}
    (TWO, "H", "H: 19 ≤ H ≤ 20\n", {}),
    # a: ⌊(H − 3)/2⌋ + 1 must be odd-exact (H odd) and equal H or be 1 (broadcast): H = 3 only
    (BROADCAST, "H", "H: H = 3\n", {}),
    # min(C − 3, 12 − C) ≥ 1 ⇔ 4 ≤ C ≤ 11; it and C even (groups 2) ⇔ C ∈ {8, 10}
    (WIDTHS.replace("FIRST", "${min(width - 3, 12 - width)}"), "C", "C: C ∈ {8, 10}\n", {}),
    # C mod 5 filters (≥ 1) into groups 2: C mod 5 even, and C even: C mod 10 ∈ {2, 4} (listed: not monotone)
    (WIDTHS.replace("FIRST", "${width % 5}"), "C", "C: C ∈ {2, 4, 12, 14, 22, 24, 32, 34, …}\n", {}),
    # option A cannot drop channels: G ≥ 16 (the input's); the main branch may be any width
    (SHORTCUT, "G", "G: G ≥ 16\n", {"F": 8}),
    # avgpool3d: T ≥ 3 (torch's check before the padding); conv3d: ⌊(T − 3)/2⌋ + 1 ≥ 1 and T − 3 even
    (CLIP, "T", "T: T ≡ 1 (mod 2), T ≥ 3\n", {}),
])  # fmt: skip
def test_sizes_against_the_concrete_engine(tmp_path, text, name, expected, others):
    spec = write(tmp_path, "s", text)
    out = netcalc("sizes", spec, "--format", "json")
    assert out.returncode == 0, out.stderr
    res = next(s for s in json.loads(out.stdout)["symbols"] if s["name"] == name)
    assert expected in netcalc("sizes", spec).stdout
    valid = {x for x in range(1, 41) if _valid(res, x)}
    brute = {x for x in range(1, 41) if _concrete_ok(spec, **{name: x}, **others)}
    assert valid == brute


def test_sizes_with_a_set_value_that_breaks_the_network():
    # unet-small needs W ≡ 0 (mod 16): W = 100 is not valid; its neighbours 96 and 112 are
    out = netcalc("sizes", "unet-small", "--set", "W=100")
    assert out.returncode == 0, out.stderr
    assert "--set W = 100: NOT valid (nearest valid: 96, 112)" in out.stdout
    assert "default H = 256: valid" in out.stdout


def test_sweep_rows_are_invalid_when_another_default_is(tmp_path):
    # W = 100 (the default here) breaks the network, so no H of the sweep gives a valid size
    text = (ROOT / "specs" / "unet-small.yaml").read_text(encoding="utf-8")
    spec = write(tmp_path, "u100", text.replace("W: {default: 256", "W: {default: 100"))
    rows = sweep_rows(netcalc("sizes", spec, "--sweep", "H=16..32:16").stdout)
    assert rows == {16: "no", 32: "no"}, rows
