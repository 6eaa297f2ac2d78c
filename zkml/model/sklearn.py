"""scikit-learn estimators as torch modules (then exported like any torch model).

Linear models and MLPs map to layers; tree ensembles use the GEMM formulation (as in Microsoft's
hummingbird): one matrix product picks each internal node's feature, a comparison gives the
decisions, a second product matches decision patterns to leaves, a third sums leaf values.
Every op is a MatMul, a comparison or an elementwise function, which ezkl proves.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UnsupportedModelError
from ..support.deps import need
from .boosters import BOOSTERS, booster_to_torch, is_booster
from .trees import apply_head, gemm_trees, stack_trees, tree_arrays

SUPPORTED = (
    "LogisticRegression",
    "LinearRegression",
    "Ridge",
    "Lasso",
    "ElasticNet",
    "LinearSVC",
    "LinearSVR",
    "MLPClassifier",
    "MLPRegressor",
    "DecisionTreeClassifier",
    "DecisionTreeRegressor",
    "RandomForestClassifier",
    "RandomForestRegressor",
    "ExtraTreesClassifier",
    "ExtraTreesRegressor",
    "GradientBoostingClassifier",
    "GradientBoostingRegressor",
)


def is_sklearn(obj: Any) -> bool:
    """scikit-learn estimators, and XGBoost/LightGBM models through their scikit-learn wrappers."""
    return (
        is_booster(obj) or any(c.__module__.startswith("sklearn.") for c in type(obj).__mro__) and hasattr(obj, "fit")
    )


OUTPUTS = ("proba", "decision", "predict")
# tree classifiers' probabilities are averaged leaf fractions: no softmax, already their cheapest output
_TREE_CLASSIFIERS = ("DecisionTreeClassifier", "RandomForestClassifier", "ExtraTreesClassifier")
# measured here (iris, compile only): what a softmax head costs next to the scores it is taken of
_PROBA_COST = "LogisticRegression on iris: 2^17 rows and a 2.2 GB proving key instead of 2^11 rows and 0.01 GB"


def is_classifier(est) -> bool:
    return hasattr(est, "classes_")


def outputs_for(est) -> tuple[str, ...]:
    """The ``sklearn_output`` values ``est`` exports, cheapest to prove first (the first is the default).

    A classifier's cheapest output is its scores (``decision``: decision_function, or the raw margin of a
    boosted model, or an MLP's last-layer logits); ``predict`` is their argmax, as an index into ``classes_``;
    ``proba`` adds the sigmoid or softmax (an exp lookup table that can dominate the circuit). A tree classifier
    (decision tree, random forest, extra trees) has no scores: its ``proba`` is already cheap."""
    if not is_classifier(est):
        return ("predict",)
    if type(est).__name__ in _TREE_CLASSIFIERS:
        return ("proba", "predict")
    return ("decision", "predict") + (("proba",) if hasattr(est, "predict_proba") else ())


def default_output(est) -> str:
    return outputs_for(est)[0]


def check_output(est, output: str) -> None:
    """Refuse an ``sklearn_output`` this estimator has no conversion for, naming the ones it has."""
    if output not in OUTPUTS:
        raise UnsupportedModelError(
            f"unknown sklearn_output {output!r}",
            stage="export",
            where="sklearn_output",
            hint=f"use one of {', '.join(OUTPUTS)} (the default: the cheapest to prove)",
        )
    outs = outputs_for(est)
    if output in outs:
        return
    name = type(est).__name__
    why = {
        "decision": "it is a regressor (its output is predict)"
        if not is_classifier(est)
        else "a tree classifier has no scores besides its probabilities, which are already cheap",
        "proba": "it has no predict_proba" if is_classifier(est) else "it is a regressor (its output is predict)",
    }[output]
    raise UnsupportedModelError(
        f"{name} cannot export sklearn_output={output!r}: {why}",
        stage="export",
        where="sklearn_output",
        hint=f"use one of {', '.join(outs)} (or leave it out: {outs[0]})",
    )


def output_note(est, output: str, default: bool) -> str:
    """What the exported model outputs, in words (kept in ``Model.parity['output_note']`` and shown by the CLI)."""
    name = type(est).__name__
    binary = is_classifier(est) and len(est.classes_) == 2
    if output == "decision":
        what = (
            "scores (one column: > 0 means classes_[1])"
            if binary
            else "scores, one per class (the largest is the predicted class)"
        )
        note = f"{name} exported as its {what}, not probabilities"
        if default and "proba" in outputs_for(est):
            note += (
                f"; chosen as the cheapest output to prove. sklearn_output='proba' (CLI --sklearn-output proba) "
                f"adds a {'sigmoid' if binary else 'softmax'} whose lookup table can make the circuit far larger "
                f"({_PROBA_COST})"
            )
        return note
    if output == "predict" and is_classifier(est):
        return (
            f"{name} exported as its predicted class: an index into classes_ {np.asarray(est.classes_)[:10].tolist()}"
        )
    if output == "proba":
        if name in _TREE_CLASSIFIERS:
            return f"{name} exported as its class probabilities (averaged leaves: no softmax, its cheapest output)"
        return (
            f"{name} exported as its class probabilities; sklearn_output='decision' (the scores) is far cheaper to "
            f"prove ({_PROBA_COST})"
        )
    return f"{name} exported as its predictions (predict)"


def sklearn_reference(est, X: np.ndarray, output: str) -> np.ndarray:
    """What the converted module must reproduce: predict_proba / the scores / predict (a classifier's as an index)."""
    if output == "proba":
        return est.predict_proba(X)
    if output == "decision":
        return _scores(est, X).reshape(len(X), -1)
    pred = np.asarray(est.predict(X))
    if is_classifier(est):
        pred = np.searchsorted(np.asarray(est.classes_), pred)  # classes_ are sorted (np.unique)
    return pred.astype(np.float64).reshape(len(X), -1)


def _scores(est, X: np.ndarray) -> np.ndarray:
    if is_booster(est):
        from .boosters import margin

        return margin(est, X)
    if type(est).__name__ == "MLPClassifier":  # no decision_function: the logits under its output activation
        act = {
            "relu": lambda a: np.maximum(a, 0),
            "tanh": np.tanh,
            "logistic": lambda a: 1 / (1 + np.exp(-a)),
            "identity": lambda a: a,
        }[est.activation]
        a = np.asarray(X, np.float64)
        for i, (w, b) in enumerate(zip(est.coefs_, est.intercepts_)):
            a = a @ w + b
            if i < len(est.coefs_) - 1:
                a = act(a)
        return a
    return est.decision_function(X)


def check_estimator(est) -> None:
    """Refuse estimators without a converter, and unfitted ones, before any work."""
    name = type(est).__name__
    if name not in SUPPORTED + BOOSTERS:
        raise UnsupportedModelError(
            f"no converter for {type(est).__module__.split('.')[0]}'s {name}",
            stage="export",
            where=name,
            hint=f"supported: {', '.join(SUPPORTED + BOOSTERS)}; or convert it to ONNX with standard ops yourself",
        )
    if not hasattr(est, "n_features_in_"):
        raise UnsupportedModelError(f"the {name} is not fitted", stage="export", where=name, hint="call fit() first")


def to_torch(est, output: str):
    """A torch.nn.Module computing ``output`` ("proba", "decision" or "predict") for a fitted estimator."""
    need("torch")
    check_estimator(est)
    check_output(est, output)
    if output == "predict" and is_classifier(est):  # the argmax of the cheapest scores
        return _Label(_module(est, "proba" if type(est).__name__ in _TREE_CLASSIFIERS else "decision"))
    return _module(est, output)


def _module(est, output: str):
    torch = need("torch")
    if is_booster(est):
        return booster_to_torch(est, output)
    name = type(est).__name__
    if (
        name == "MLPClassifier"
        and getattr(est, "out_activation_", "") == "logistic"
        and getattr(est, "n_outputs_", 1) > 1
    ):
        raise UnsupportedModelError(
            "a multi-label MLPClassifier has no converter",
            stage="export",
            where=name,
            hint="fit one label per classifier, or export it as a torch module yourself",
        )
    f = torch.float32
    if name in ("LogisticRegression", "LinearRegression", "Ridge", "Lasso", "ElasticNet", "LinearSVC", "LinearSVR"):
        lin = torch.nn.Linear(est.n_features_in_, np.atleast_2d(est.coef_).shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(np.atleast_2d(est.coef_), dtype=f))
            lin.bias.copy_(torch.tensor(np.atleast_1d(est.intercept_), dtype=f))
        return _Head(lin, _head_kind(est, output))
    if name.startswith("MLP"):
        layers = []
        act = {
            "relu": torch.nn.ReLU,
            "tanh": torch.nn.Tanh,
            "logistic": torch.nn.Sigmoid,
            "identity": torch.nn.Identity,
        }[est.activation]
        for i, (w, b) in enumerate(zip(est.coefs_, est.intercepts_)):
            lin = torch.nn.Linear(*w.shape)
            with torch.no_grad():
                lin.weight.copy_(torch.tensor(w.T, dtype=f))
                lin.bias.copy_(torch.tensor(b, dtype=f))
            layers.append(lin)
            if i < len(est.coefs_) - 1:
                layers.append(act())
        return _Head(torch.nn.Sequential(*layers), _head_kind(est, output))
    return _trees(est, output)


def _Label(scores):
    """The predicted class index (float, shape (N, 1)) from a module's scores: the argmax, or for one score
    column (binary) whether it is > 0, as scikit-learn decides (a tie goes to the first class)."""
    torch = need("torch")

    class Label(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scores = scores

        def forward(self, x):
            z = self.scores(x)
            if z.shape[-1] == 1:
                z = torch.cat([torch.zeros_like(z), z], dim=-1)
            return torch.argmax(z, dim=-1, keepdim=True).float()

    return Label()


def _head_kind(est, output: str) -> str:
    if output != "proba":
        return "none"
    if len(est.classes_) == 2:
        return "sigmoid2"
    return "softmax"


def _Head(body, kind: str):
    torch = need("torch")

    class Head(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = body

        def forward(self, x):
            return apply_head(self.body(x), kind)

    return Head()


def _trees(est, output: str):
    name = type(est).__name__
    nf = est.n_features_in_
    classifier = hasattr(est, "classes_")
    if name.startswith("GradientBoosting"):
        trees = [(tree, k) for stage in est.estimators_ for k, tree in enumerate(stage)]
        n_out = est.estimators_.shape[1]
        scale = est.learning_rate

        def value(t, leaf, k):
            v = np.zeros(n_out)
            v[k] = t.value[leaf].reshape(-1)[0] * scale
            return v

        parts = [tree_arrays(tr, nf, lambda t, leaf, k=k: value(t, leaf, k)) for tr, k in trees]
        init = _gb_init(est, n_out)
        kind = ("sigmoid2" if n_out == 1 else "softmax") if output == "proba" else "none"
    else:
        ests = est.estimators_ if hasattr(est, "estimators_") else [est]

        def value(t, leaf):
            v = t.value[leaf].reshape(-1).astype(np.float64)
            if classifier:
                v = v / max(v.sum(), 1e-12)  # sklearn >= 1.4 stores fractions already; normalise either way
            return v / len(ests)

        parts = [tree_arrays(tr, nf, value) for tr in ests]
        init = np.zeros(parts[0][4].shape[1], np.float32)
        kind = "none"  # a classifier's proba is the averaged leaves (check_output refused anything else)
    return gemm_trees(*stack_trees(parts), init, kind)


def _gb_init(est, n_out: int) -> np.ndarray:
    init = est.init_
    if init == "zero":
        return np.zeros(n_out, np.float32)
    X0 = np.zeros((1, est.n_features_in_))
    raw = est._raw_predict_init(X0)
    return np.asarray(raw, np.float32).reshape(-1)
