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

SUPPORTED = ("LogisticRegression", "LinearRegression", "Ridge", "Lasso", "ElasticNet", "LinearSVC", "LinearSVR",
             "MLPClassifier", "MLPRegressor", "DecisionTreeClassifier", "DecisionTreeRegressor",
             "RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier", "ExtraTreesRegressor",
             "GradientBoostingClassifier", "GradientBoostingRegressor")


def is_sklearn(obj: Any) -> bool:
    """scikit-learn estimators, and XGBoost/LightGBM models through their scikit-learn wrappers."""
    return is_booster(obj) or any(c.__module__.startswith("sklearn.") for c in type(obj).__mro__) and hasattr(obj, "fit")


def sklearn_reference(est, X: np.ndarray, output: str) -> np.ndarray:
    """What the converted module must reproduce: predict_proba / decision_function / predict."""
    if output == "proba":
        return est.predict_proba(X)
    if output == "decision":
        d = est.decision_function(X)
        return d.reshape(len(X), -1)
    return np.asarray(est.predict(X), dtype=np.float64).reshape(len(X), -1)


def default_output(est) -> str:
    return "proba" if hasattr(est, "predict_proba") else "predict"


def check_estimator(est) -> None:
    """Refuse estimators without a converter, and unfitted ones, before any work."""
    name = type(est).__name__
    if name not in SUPPORTED + BOOSTERS:
        raise UnsupportedModelError(f"no converter for {type(est).__module__.split('.')[0]}'s {name}", stage="export", where=name,
                                    hint=f"supported: {', '.join(SUPPORTED + BOOSTERS)}; or convert it to ONNX with standard ops yourself")
    if not hasattr(est, "n_features_in_"):
        raise UnsupportedModelError(f"the {name} is not fitted", stage="export", where=name, hint="call fit() first")


def to_torch(est, output: str):
    """A torch.nn.Module computing ``output`` ("proba", "decision" or "predict") for a fitted estimator."""
    torch = need("torch")
    check_estimator(est)
    if is_booster(est):
        return booster_to_torch(est, output)
    name = type(est).__name__
    if output == "proba" and not hasattr(est, "predict_proba"):
        raise UnsupportedModelError(f"{name} has no predict_proba", stage="export", where="output", hint="use output='predict'")
    f = torch.float32
    if name in ("LogisticRegression", "LinearRegression", "Ridge", "Lasso", "ElasticNet", "LinearSVC", "LinearSVR"):
        lin = torch.nn.Linear(est.n_features_in_, np.atleast_2d(est.coef_).shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(np.atleast_2d(est.coef_), dtype=f))
            lin.bias.copy_(torch.tensor(np.atleast_1d(est.intercept_), dtype=f))
        return _Head(lin, _head_kind(est, output))
    if name.startswith("MLP"):
        layers = []
        act = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "logistic": torch.nn.Sigmoid, "identity": torch.nn.Identity}[est.activation]
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
        kind = "none"
        if classifier and output != "proba":
            raise UnsupportedModelError(f"{name} exports predict_proba only", stage="export", where="output",
                                        hint="use output='proba' (take the argmax for the label)")
    return gemm_trees(*stack_trees(parts), init, kind)


def _gb_init(est, n_out: int) -> np.ndarray:
    init = est.init_
    if init == "zero":
        return np.zeros(n_out, np.float32)
    X0 = np.zeros((1, est.n_features_in_))
    raw = est._raw_predict_init(X0)
    return np.asarray(raw, np.float32).reshape(-1)
