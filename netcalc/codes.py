"""Every finding code netcalc reports, in one table.

The code in a few words is what SARIF's rule descriptions say (netcalc.sarif), what the JSON
Schema's enums of codes list (`select`/`ignore` in config.py, `noqa:` in compound_kinds.py), and what the
did-you-mean of `--select`, `--ignore`, per-file-ignores and `noqa:` chooses from. The README's
tables list the same codes, with a longer explanation each (tests/test_sarif.py checks both ways).
The checks themselves stay where they are implemented and report by these codes: reading
(spec_text.py, yamlsrc.py, spec.py), the schema (kinds.py, blocks.py), shapes (layers/), the signal report
(signal.py) and the design rules and budgets (lint.py, whose `RULES` maps a code to its function).

E0xx reading, E1xx the schema, E2xx shapes, W2xx size warnings, W3xx the signal report, W4xx design
rules, B5xx budgets.
"""

from __future__ import annotations

from .diagnostics import did_you_mean

CODES = {
    "E001": "the file cannot be read, or no bundled spec has that name",
    "E002": "binary or non-UTF-8 content",
    "E003": "YAML syntax, an empty file, or a document too large or too deeply nested",
    "E101": "a duplicate key, a merge key, or a non-scalar key",
    "E102": "an unknown key",
    "E103": "a value of the wrong type",
    "E104": "a number out of its range",
    "E105": "a word that is not one of the allowed choices",
    "E106": "a required key is missing",
    "E107": "a symbolic size without a value, a bad --set, or a command-line value that cannot be used",
    "E108": "a pyproject.toml that is not TOML, or a [tool.netcalc] setting that cannot be used",
    "E110": "an unsupported format version",
    "E111": "an unknown layer type or activation",
    "E112": "an id used twice",
    "E113": "in:, initial_state:, shares:, tie: or outputs: names nothing defined earlier",
    "E114": "no layer of that name",
    "E115": "a one-input layer given several inputs, a merge given fewer than two, or a source (a free parameter) given any",
    "E116": "use: names no block",
    "E117": "a block that uses itself, or blocks nested too deep",
    "E118": "block uses that expand to more layers than the limit (--max-layers)",
    "E119": "a tensor too large for the signal report (signal, verify)",
    "E120": "a $ expression that cannot be evaluated",
    "E121": "verify: the executor cannot run the network as written (an embedding fed values that are not token ids)",
    "E122": "tie: a type it cannot take a tensor of, beside shares:, or frozen with a trainable tensor; shares: a layer of another type or a parameter-free one, a use of another block, or an argument, first:, repeat or trainable: that differs from the owner's; shared: true with another first repetition",
    "E201": "an output size below 1",
    "E202": "an input of the wrong rank for the layer",
    "E203": "groups that do not divide the channels",
    "E204": "a padding, or a recurrent layer's argument, the convention does not allow",
    "E205": "a reshape that does not keep the number of elements",
    "E206": "a merge of shapes that do not match",
    "E207": "a shortcut in option A asked to drop channels",
    "E208": "initial states that do not fit the recurrent layer (their number or their shapes)",
    "E209": "a layer sharing weights (shares:) whose input needs other weight shapes than the owner's, or a tied tensor (tie:) of another shape",
    "E210": "an output with more elements per sample than an int64 index reaches (2⁶³ − 1)",
    "E211": "a max unpool whose indices are no max pool's, or do not fit the map it unpools or the output's size",
    "E212": "attention heads that do not divide the query's width (no head_dim given)",
    "E213": "attention kv_heads that do not divide heads",
    "E214": "a causal cross-attention whose memory is not as long as the queries",
    "W201": "an inexact size division leaves input rows or columns unread",
    "W202": "an embedding reads an input whose dtype is not an integer type",
    "W203": "a layer's output is never used and is not among the outputs",
    "W301": "the forward signal growth over the net leaves the band",
    "W302": "the backward growth (gradient norm) leaves the band",
    "W303": "a sigmoid, tanh or softmax saturates at initialisation",
    "W304": "a constant weight initialisation",
    "W305": "the signal rules could not run: a tensor, or all of them, too large for the signal report",
    "W401": "a bias right before a batchnorm is cancelled by it",
    "W402": "dropout before batchnorm shifts the variance between training and inference",
    "W403": "two linear layers with no nonlinearity between them are one linear map",
    "W404": "a large dense layer after flatten, where global average pooling would do",
    "W405": "an output activation that does not fit the loss (softmax/sigmoid with no loss: given)",
    "W406": "windows that leave input between them unread (stride over window, dilation)",
    "B501": "parameters over the budget",
    "B502": "MACs over the budget",
    "B503": "memory over the budget",
    "B504": "weighted layers over the budget",
    "B505": "activation memory over the budget",
}


def code_problem(text: str, whole: bool = False) -> str | None:
    """Why a code or prefix (select, ignore, per-file-ignores; `whole`: a full code, for noqa) names no
    finding netcalc reports; None when it names some."""
    if text in CODES or (not whole and len(text) < 4 and any(code.startswith(text) for code in CODES)):
        return None
    what = "a finding code" if whole else "a finding code or prefix"
    return f"'{text}' is not {what} netcalc reports{did_you_mean(text.upper(), list(CODES))}"
