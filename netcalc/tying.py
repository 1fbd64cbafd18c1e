"""`tie: NAME`: a layer that takes one tensor of an earlier layer of another type, as the frameworks
tie weights: a language model's output layer whose weight is the input embedding's table (Press &
Wolf 2017, Inan et al. 2017; PyTorch `lm_head.weight = wte.weight`, GPT-2's tied head), a tied
autoencoder's transposed convolution whose weight is the encoder convolution's.

Which tensor is whose, and whether it is stored transposed, is the layer type's declaration
(`LayerType.ties`: op → `layers.base.Tie`), never a list of names here. The tensor is counted once,
at NAME (as `model.parameters()` yields a tied Parameter once); the layer's other tensors (a
dense's bias) stay its own. That the shapes agree is checked in the analysis (E209, quoting both).
"""

from __future__ import annotations

from .diagnostics import Diagnostics, clip
from .graph import Node
from .kinds import Arg, Str
from .names import _Namer

TIE_ARG = Arg(
    Str(),
    None,
    "an earlier layer one of whose tensors this layer's is (a dense output layer's weight: an embedding's "
    "table, transposed where the layout is; a transposed convolution's: a convolution's), counted once, there",
)


def tie_owner(written: str, loc, name: str, op: str, ltype, namer: _Namer, diags: Diagnostics) -> Node | None:
    """The layer `tie: written` names, resolved as `in:` resolves a name (its first owner when it
    shares another's weights); None after E113 (no earlier layer of that name) or E122 (a type
    this one cannot take a tensor of)."""
    ref = namer.local.get(written, written)
    owner = namer.nodes.get(ref)
    if owner is None:
        if ref == name:
            diags.error("E113", f"'tie: {clip(written)}' is this layer itself; a layer ties to an earlier layer", loc)
        elif ref in namer.used:
            diags.error("E113", f"'tie: {clip(written)}' is an input or a state, not a layer with weights", loc)
        else:
            hint = namer.hint(written, loc, name)
            diags.error("E113", f"'tie: {clip(written)}' names no earlier layer{hint}", loc)
        return None
    if owner.op not in ltype.ties:
        kinds = " or ".join(ltype.ties)
        article = "an" if kinds[0] in "aeiou" else "a"
        diags.error("E122", f"'tie: {clip(written)}' names a {owner.op} layer (line {owner.loc.line}); a {op} "
                    f"layer ties its tensor to {article} {kinds} layer's only", loc)  # fmt: skip
        return None
    if owner.shares is not None:  # the tensor is the first owner's
        owner = namer.nodes.get(owner.shares, owner)
    return owner


def tie_frozen(node: Node, owner: Node, locs: dict, diags: Diagnostics) -> None:
    """E122 for a frozen layer (its `trainable: false`, or a frozen use around it) tied to a tensor
    its owner trains: freezing the layer would freeze the owner's tensor too (PyTorch's
    `requires_grad_(False)` on the tied module sets the shared Parameter's flag)."""
    if node.frozen and not owner.frozen:
        diags.error("E122", f"{clip(node.name)} is frozen but ties its tensor to {clip(owner.name)}'s, trainable "
                    f"there (line {owner.loc.line}): freezing it would freeze {clip(owner.name)}'s; write "
                    f"trainable: false on {clip(owner.name)} too, or leave {clip(node.name)} trainable",
                    locs.get("trainable", locs.get("tie", node.loc)))  # fmt: skip
        node.invalid = True
