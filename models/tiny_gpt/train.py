"""A small GPT-style character model: two decoder blocks (causal self-attention with two heads, layernorm,
GELU MLP) that read a 12-character window and score the next character. Trained in seconds on the Zen of
Python, the text that ships with Python in its ``this`` module.

Its single circuit does not fit this machine (2^20 rows at width 5.5: ``zkml.estimate`` predicts about
45 GB of peak memory against 23.5 GB), so it is compiled with ``max_logrows`` and proved in linked segments.
The held-out windows overlap the training text (there is only one poem): the model memorises more than it
generalises. It is here to be a real transformer for split proving, not a language model anyone should use.

Run: python -m models.tiny_gpt.train
"""

from __future__ import annotations

import codecs
import contextlib
import io
import json

import numpy as np

CONTEXT, WIDTH, HEADS, LAYERS = 12, 32, 2, 2
MASK = -8.0  # additive causal mask: exp(-8) is below the circuit's resolution, and the range stays small
STEPS, BATCH, LR = 600, 64, 3e-3
SEED = 0
NAME = "tiny_gpt"


def corpus() -> str:
    """The Zen of Python, lower-cased (the standard library's ``this`` module keeps it rot13-encoded)."""
    with contextlib.redirect_stdout(io.StringIO()):  # importing ``this`` prints the poem
        import this
    return codecs.decode(this.s, "rot13").lower()


def vocabulary() -> list[str]:
    return sorted(set(corpus()))


def encode(text: str, context: int = CONTEXT) -> np.ndarray:
    """The last ``context`` characters of ``text`` as one-hot rows: shape (1, context, vocabulary)."""
    vocab = vocabulary()
    unknown = sorted(set(text) - set(vocab))
    if unknown or len(text) < context:
        raise ValueError(
            f"a prompt is {context} or more characters from the poem's alphabet ({''.join(vocab)!r}); "
            f"got {len(text)} characters{', unknown ' + repr(''.join(unknown)) if unknown else ''}"
        )
    ids = [vocab.index(c) for c in text[-context:]]
    return np.eye(len(vocab), dtype=np.float32)[ids][None]


def decode(scores) -> str:
    """The character a score vector ranks first."""
    return vocabulary()[int(np.argmax(np.asarray(scores).reshape(-1)))]


def data(context: int = CONTEXT):
    """Every window of the poem and the character after it, split 75/25 at random (seeded)."""
    text, vocab = corpus(), vocabulary()
    ids = np.array([vocab.index(c) for c in text])
    n = len(ids) - context
    X = np.eye(len(vocab), dtype=np.float32)[np.stack([ids[i : i + context] for i in range(n)])]
    Y = np.stack([ids[i + 1 : i + context + 1] for i in range(n)])  # the next character at every position
    order = np.random.default_rng(SEED).permutation(n)
    train, test = order[: 3 * n // 4], order[3 * n // 4 :]
    return X[train], X[test], Y[train, -1], Y[test, -1], Y[train]


def build(
    context: int = CONTEXT, width: int = WIDTH, heads: int = HEADS, layers: int = LAYERS, vocab: int | None = None
):
    """The network: one-hot window -> token and position embeddings -> decoder blocks -> the next character's scores."""
    import torch

    vocab = vocab or len(vocabulary())
    hd = width // heads

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = torch.nn.LayerNorm(width), torch.nn.LayerNorm(width)
            self.qkv = torch.nn.ModuleList([torch.nn.Linear(width, 3 * hd) for _ in range(heads)])  # one per head
            self.proj = torch.nn.Linear(width, width)
            self.fc, self.out = torch.nn.Linear(width, 4 * width), torch.nn.Linear(4 * width, width)
            self.register_buffer("mask", torch.triu(torch.full((context, context), MASK), 1))

        def forward(self, x):
            h, heads_out = self.ln1(x), []
            for m in self.qkv:
                q, k, v = m(h).split(hd, dim=-1)
                attn = torch.softmax(q @ k.transpose(-1, -2) / hd**0.5 + self.mask, dim=-1)
                heads_out.append(attn @ v)
            x = x + self.proj(torch.cat(heads_out, -1))
            return x + self.out(torch.nn.functional.gelu(self.fc(self.ln2(x))))

    class TinyGPT(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(SEED)
            self.tok = torch.nn.Linear(vocab, width, bias=False)
            self.pos = torch.nn.Parameter(torch.randn(context, width) * 0.1)
            self.blocks = torch.nn.Sequential(*[Block() for _ in range(layers)])
            self.ln = torch.nn.LayerNorm(width)
            self.head = torch.nn.Linear(width, vocab)

        def every_position(self, x):
            return self.head(self.ln(self.blocks(self.tok(x) + self.pos)))

        def forward(self, x):  # (B, context, vocab) one-hot -> (B, vocab): the next character's scores
            return self.head(self.ln(self.blocks(self.tok(x) + self.pos))[:, -1, :])

    return TinyGPT()


def train(steps: int = STEPS, **dims):
    """(trained network, (X_train, X_test, y_train, y_test)); seeded, a few seconds on two cores."""
    import torch

    context = dims.get("context", CONTEXT)
    X_train, X_test, y_train, y_test, Y_train = data(context)
    net = build(**dims)
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    opt = torch.optim.AdamW(net.parameters(), lr=LR)
    X, Y = torch.tensor(X_train), torch.tensor(Y_train, dtype=torch.long)
    g = torch.Generator().manual_seed(SEED)
    for _ in range(steps):
        idx = torch.randint(0, len(X), (BATCH,), generator=g)
        loss = torch.nn.functional.cross_entropy(
            net.every_position(X[idx]).reshape(-1, X.shape[-1]), Y[idx].reshape(-1)
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval(), (X_train, X_test, y_train, y_test)


def next_char_accuracy(predict, X, y) -> float:
    return float(np.mean([int(np.argmax(predict(x[None]))) == int(t) for x, t in zip(X, y)]))


def main():
    import torch

    import zkml
    from models import zoo

    net, (X_train, X_test, y_train, y_test) = train()
    model = zkml.export(net, torch.tensor(X_test[:1]))
    d = zoo.folder(NAME)
    model.save(d / "model.onnx")
    prompt = corpus()[:CONTEXT]
    (d / "sample_input.json").write_text(
        json.dumps({"input_data": [encode(prompt).astype(np.float64).reshape(-1).tolist()]})
    )
    np.save(d / "calibration.npy", X_train[:4])

    def float_predict(x):
        return model.run({model.inputs[0].name: x.astype(np.float32)})[0]

    whole = zkml.estimate(model, X_train[:4])  # as one circuit, which compile refuses here
    circuit = zoo.compile_zoo(NAME)
    rows = X_test[:16]
    got = [circuit.run(x[None])[0] for x in rows]
    ref = [float_predict(x[None]) for x in rows]
    meta = {
        "name": NAME,
        "dataset": "the Zen of Python (the standard library's `this` module), lower-cased",
        "source": model.source,
        "onnx_sha256": model.hash,
        "context": CONTEXT,
        "width": WIDTH,
        "heads": HEADS,
        "layers": LAYERS,
        "vocabulary": len(vocabulary()),
        "train_windows": int(len(X_train)),
        "test_windows": int(len(X_test)),
        "float_train_accuracy": next_char_accuracy(float_predict, X_train, y_train),
        "float_test_accuracy": next_char_accuracy(float_predict, X_test, y_test),
        "single_circuit": {
            "logrows": whole.logrows,
            "predicted_peak_memory_gb": round(whole.peak_memory_bytes / 2**30, 1),
            "machine_memory_gb": round(whole.machine_memory_bytes / 2**30, 1),
            "fits": whole.fits,
        },
        "segments": len(circuit.segments),
        "logrows": circuit.logrows,
        "num_rows": [c.num_rows for c in circuit.segments],
        "circuit_top1_agreement": float(np.mean([np.argmax(a) == np.argmax(b) for a, b in zip(got, ref)])),
        "circuit_max_abs_error": float(
            max(np.abs(np.asarray(a) - np.asarray(b).reshape(np.shape(a))).max() for a, b in zip(got, ref))
        ),
        "agreement_windows": len(rows),
        "zkml_version": zkml.__version__,
    }
    (d / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
