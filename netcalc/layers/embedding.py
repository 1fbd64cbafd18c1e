"""The embedding layer: a lookup table from integer token ids to vectors, in both frameworks'
counting (PyTorch `weight`, Keras `embeddings`, vocab × dim). It reads token ids (`reads_sequence`),
so an input it reads is a sequence, features last."""

from __future__ import annotations

from ..kinds import Arg, Int
from .base import Geometry, LayerType, Tensor
from .conv import INIT_ARGS


class Embedding(LayerType):
    """A lookup table: each integer token id becomes a vector of `dim` numbers. Input: token ids of
    any shape (T,) → (T, dim). Parameters: vocab × dim (PyTorch `weight`, Keras `embeddings`).
    No MACs and no FLOPs: a lookup multiplies nothing."""

    op = "embedding"
    reads_sequence = True  # token ids; the vectors come out features last
    summary = "token ids → vectors (a lookup table)"
    counting = "MACs 0, FLOPs 0 (a lookup)"
    parametric = True
    args = {
        "vocab": Arg(Int(1), doc="number of distinct tokens (Keras input_dim, PyTorch num_embeddings)"),
        "dim": Arg(Int(1), doc="vector size (Keras output_dim, PyTorch embedding_dim)"),
        "init": INIT_ARGS["init"],
    }

    def resolve(self, a, shapes, ctx):
        """Any input shape of ids; reading a graph input of a float type is a warning (ids are integers)."""
        source = ctx.node.inputs[0]
        dtype = ctx.input_dtypes.get(source)
        if dtype is not None and not dtype.startswith("int"):
            ctx.warning(
                "W202",
                f"embedding reads '{source}' of dtype {dtype}, but token ids are integers: "
                f"give the input dtype: int64 (or int32); PyTorch's nn.Embedding refuses float ids",
            )
        return Geometry(shape=shapes[0], vocab=a["vocab"], dim=a["dim"])

    def output_shape(self, g):
        """The id shape with a vector axis of `dim` added."""
        return (*g.shape, g.dim)

    def params(self, g, ctx):
        """One table, vocab × dim, trainable."""
        return [Tensor("embeddings" if ctx.keras_counting else "weight", (g.vocab, g.dim))]

    def macs(self, g):
        """0: a lookup multiplies nothing."""
        return 0

    def flops(self, g):
        """0: a lookup computes nothing."""
        return 0

    def sig_forward(self, g, ins, env):
        """[E] each output is one row of the table: q = Var + mean² of the embedding initialiser
        (PyTorch N(0, 1): 1; Keras U(±0.05): 8.3e−4), whatever the ids."""
        import numpy as np

        from ..signal_rules import Sig

        mean, var = env.init("init", "embedding", (g.vocab, g.dim))
        q = var + mean * mean
        return Sig(np.full(env.positions(self.output_shape(g)), q), mean, mean * mean / q if q else 0.0,
                   mean * mean / q if q else 0.0, gauss=False), "E"  # fmt: skip

    def sig_backward(self, g, ins, out, r, env):
        """Token ids take no gradient."""
        return [None], "E"

    def receptive(self, g, rf):
        """No spatial window."""
        return None
