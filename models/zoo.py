"""Shared pieces of the zoo: data splits, writing a model's folder, reading circuit specs.

Each ``models/<name>/train.py`` defines ``train() -> (model, data)`` (seeded, seconds on two cores)
and calls :func:`publish` from its ``__main__``. ``circuits/<name>.json`` says how to prove it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["digits_mlp", "digits_cnn", "credit_logreg", "iris_forest", "wine_attention"]
SPLIT_NAMES = ["tiny_gpt"]  # too big for one circuit here: compiled with max_logrows, proved in segments
SEED = 0


def split(X: np.ndarray, y: np.ndarray, test_size: float = 0.25):
    from sklearn.model_selection import train_test_split

    return train_test_split(X.astype(np.float32), y, test_size=test_size, random_state=SEED, stratify=y)


def fit_torch(net, X, y, *, epochs: int, lr: float = 0.01, batch: int = 32):
    """A small, deterministic Adam training loop for classifiers."""
    import torch

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    Xt, yt = torch.tensor(X), torch.tensor(y, dtype=torch.long)
    g = torch.Generator().manual_seed(SEED)
    for _ in range(epochs):
        perm = torch.randperm(len(Xt), generator=g)
        for i in range(0, len(Xt), batch):
            idx = perm[i : i + batch]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    return net.eval()


def folder(name: str) -> Path:
    return ROOT / "models" / name


def spec(name: str) -> dict:
    """The circuit spec of a zoo model (visibility, target, tolerance), with absolute paths."""
    s = json.loads((ROOT / "circuits" / f"{name}.json").read_text())
    s["onnx"] = str(folder(name) / "model.onnx")
    s["calibration_file"] = str(folder(name) / "calibration.npy")
    s["sample_file"] = str(folder(name) / "sample_input.json")
    return s


def load(name: str):
    """(zkml.Model, calibration array, sample input, metadata) of a zoo model."""
    import zkml

    d = folder(name)
    meta = json.loads((d / "metadata.json").read_text())
    sample = np.asarray(json.loads((d / "sample_input.json").read_text())["input_data"][0], dtype=np.float32)
    return zkml.load_model(d / "model.onnx"), np.load(d / "calibration.npy"), sample, meta


def compile_zoo(name: str, **overrides):
    import zkml

    s = spec(name)
    model, cal = zkml.load_model(s["onnx"]), np.load(s["calibration_file"])
    return zkml.compile(
        model,
        cal,
        visibility=overrides.pop("visibility", s["visibility"]),
        target=overrides.pop("target", s["target"]),
        **{**s.get("options", {}), **overrides},
    )


def label(scores) -> int:
    """Predicted class: argmax of class scores, or the sign of a single logit."""
    v = np.asarray(scores, dtype=np.float64).reshape(-1)
    return int(np.argmax(v)) if v.size > 1 else int(v[0] > 0)


def circuit_agreement(circuit, X: np.ndarray, float_predict) -> tuple[float, float]:
    """(top-1 agreement of circuit vs float model, max abs output error) over rows of X, from witnesses."""
    agree, worst = 0, 0.0
    for row in X:
        (got,) = circuit.run(row.reshape(circuit.model.inputs[0].shape))
        ref = np.asarray(float_predict(row), dtype=np.float64).reshape(got.shape)
        agree += int(label(got) == label(ref))
        worst = max(worst, float(np.abs(got - ref).max()))
    return agree / len(X), worst


def publish_torch(name: str, net, splits, *, dataset: str) -> dict:
    """Export a trained torch classifier with zkml and publish it (see :func:`publish`)."""
    import torch

    import zkml

    X_train, X_test, _, y_test = splits
    shape = (1, *X_test.shape[1:])
    model = zkml.export(net, torch.tensor(X_test[:1]))

    def predict(row):
        with torch.no_grad():
            return net(torch.tensor(row, dtype=torch.float32).reshape(shape)).numpy()

    return publish(name, model, X_train, X_test, y_test, predict, dataset=dataset)


def publish(
    name: str,
    model,
    X_train,
    X_test,
    y_test,
    float_predict,
    *,
    dataset: str,
    calib_rows: int = 32,
    extra: dict[str, Any] | None = None,
) -> dict:
    """Write model.onnx, sample_input.json, calibration.npy and measured metadata.json for a zoo model."""
    import zkml

    d = folder(name)
    model.save(d / "model.onnx")
    sample = X_test[0]
    (d / "sample_input.json").write_text(
        json.dumps({"input_data": [np.asarray(sample, np.float64).reshape(-1).tolist()]})
    )
    np.save(d / "calibration.npy", X_train[:calib_rows])
    preds = np.array([label(float_predict(row)) for row in X_test])
    circuit = compile_zoo(name)
    agreement, worst = circuit_agreement(circuit, X_test, float_predict)
    meta = {
        "name": name,
        "dataset": dataset,
        "source": model.source,
        "onnx_sha256": model.hash,
        "train_rows": int(len(X_train)),
        "test_rows": int(len(X_test)),
        "float_test_accuracy": float((preds == y_test).mean()),
        "circuit_top1_agreement": agreement,
        "circuit_max_abs_error": worst,
        "logrows": circuit.logrows,
        "num_rows": circuit.num_rows,
        "zkml_version": zkml.__version__,
        **(extra or {}),
    }
    (d / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta
