"""The names in use while a layer list is expanded, and the scope of the block being expanded."""

from __future__ import annotations

from itertools import islice

from .diagnostics import did_you_mean

NEAR_NAMES = 500  # E113's did-you-mean looks among this many latest layer names


class _Namer:
    """Names in use, and the scope of the block being expanded: inside a block use, ids are local
    (qualified with the use's name and repetition) and `input` is what the block was given."""

    def __init__(self) -> None:
        self.counts: dict = {}
        self.used: dict = {}
        self.after: dict = {}  # a layer with an `activation:` shorthand -> the activation's node
        self.prefix = ""  # "stage2.1." inside repetition 1 of a use named stage2
        self.local: dict = {}  # local name -> qualified name, in the current block instance
        self.frames: tuple = ()
        self.group: tuple = ()
        self.frozen = False  # inside a block use written with `trainable: false`
        self.nodes: dict = {}  # qualified name -> its Node, for `shares:` (the layer whose weights are reused)
        self.uses: dict = {}  # qualified use id -> its sharing.UseRecord, for `shares:` on a use
        # inside uses whose weights are another's: (this repetition's prefix, the owner's), innermost last
        self.sharing: list = []
        self.use_shares: dict = {}  # a use's (or repetition's) group label -> the label whose weights it uses
        self.ambiguous: dict = {}  # a merge its `if:` left out -> the names it would have read (a source: ())
        self.hints: dict = {}  # (name, where it is written) -> its did-you-mean, worked out once

    def hint(self, ref: str, loc, exclude: str) -> str:
        """E113's did-you-mean for a name no earlier layer has: among the block's own ids and the
        NEAR_NAMES latest names (a mistyped name is most likely a near one); the same for every
        repetition of a block, so that its error is reported once and worked out once."""
        key = (ref, loc)
        if key not in self.hints:
            latest = [n for n in islice(reversed(self.used), NEAR_NAMES) if n != exclude]
            self.hints[key] = did_you_mean(ref, [*self.local, *latest])
        return self.hints[key]

    def left_out_merge(self, key: str, written: str, ref: str) -> str | None:
        """E113's message for a name of a merge its `if:` left out (it passes on no one tensor), or None."""
        names = self.ambiguous.get(ref)
        if names is None:
            return None
        if not names:  # a source (a free parameter): it reads nothing, so nothing stands in for it
            return (f"'{key}: {written}' names a layer its `if:` leaves out, a source (a free parameter) that "
                    "reads nothing: no tensor stands for it; leave out what reads it too, or name another")  # fmt: skip
        return (f"'{key}: {written}' names a layer its `if:` leaves out, which would read several inputs "
                f"({', '.join(names)}): which of them it stands for is ambiguous; name that one instead")  # fmt: skip

    def qualify(self, name: str) -> str:
        return self.prefix + name

    def resolve(self, ref: str) -> str:
        """A name in `in:` as the graph knows it: local ids first, then the whole network's."""
        name = self.local.get(ref, ref)
        return self.after.get(name, name)

    def auto(self, op: str) -> str:
        key = (self.prefix, op)
        while True:
            self.counts[key] = self.counts.get(key, 0) + 1
            name = f"{self.prefix}{op}_{self.counts[key]}"
            if name not in self.used:
                return name
