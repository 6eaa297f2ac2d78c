"""XGBoost and LightGBM (their scikit-learn wrappers) as torch modules, through the same GEMM trees.

Each booster's trees are read from its own JSON dump into the arrays that scikit-learn keeps in
``tree_`` (children, feature, threshold, leaf value), so one GEMM formulation serves all three.
The base margin is whatever the booster adds beyond its trees' leaves: measured at one point, then
checked (like every export) against the booster's own predictions on the sample rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import UnsupportedModelError

BOOSTERS = ("XGBClassifier", "XGBRegressor", "LGBMClassifier", "LGBMRegressor")
# objectives whose output is a sigmoid/softmax/identity of the summed leaves
_OBJECTIVES = {
    "binary:logistic": "sigmoid2",
    "multi:softprob": "softmax",
    "multi:softmax": "softmax",
    "reg:squarederror": "none",
    "reg:absoluteerror": "none",
    "reg:pseudohubererror": "none",
    "binary": "sigmoid2",
    "multiclass": "softmax",
    "regression": "none",
    "regression_l1": "none",
    "huber": "none",
}


def is_booster(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] in ("xgboost", "lightgbm")


@dataclass
class _Tree:
    """The fields of a scikit-learn ``tree_`` that the GEMM conversion reads."""

    children_left: list = field(default_factory=list)
    children_right: list = field(default_factory=list)
    feature: list = field(default_factory=list)
    threshold: list = field(default_factory=list)
    value: list = field(default_factory=list)

    @property
    def node_count(self) -> int:
        return len(self.feature)

    @property
    def tree_(self) -> "_Tree":
        return self

    def add(self) -> int:
        for lst, v in (
            (self.children_left, -1),
            (self.children_right, -1),
            (self.feature, 0),
            (self.threshold, 0.0),
            (self.value, 0.0),
        ):
            lst.append(v)
        return len(self.feature) - 1


def _xgb_trees(est) -> tuple[list[_Tree], str]:
    booster = est.get_booster()
    names = booster.feature_names
    index = {n: i for i, n in enumerate(names)} if names else {}
    objective = json.loads(booster.save_config())["learner"]["objective"]["name"]

    def feature(split: str) -> int:
        if split in index:
            return index[split]
        if split.startswith("f") and split[1:].isdigit():
            return int(split[1:])
        raise UnsupportedModelError(
            f"cannot map XGBoost split feature {split!r}",
            stage="export",
            where="model",
            hint="fit on a numpy array or name the features f0, f1, ...",
        )

    def walk(t: _Tree, node: dict) -> int:
        i = t.add()
        if "leaf" in node:
            t.value[i] = float(node["leaf"])
            return i
        kids = {c["nodeid"]: c for c in node["children"]}
        t.feature[i] = feature(node["split"])
        # XGBoost goes left ("yes") when x < threshold; the GEMM form tests x <= threshold
        t.threshold[i] = float(np.nextafter(np.float32(node["split_condition"]), np.float32(-np.inf)))
        t.children_left[i] = walk(t, kids[node["yes"]])
        t.children_right[i] = walk(t, kids[node["no"]])
        return i

    trees = []
    for dump in booster.get_dump(dump_format="json"):
        t = _Tree()
        walk(t, json.loads(dump))
        trees.append(t)
    return trees, objective


def _lgbm_trees(est) -> tuple[list[_Tree], str]:
    dump = est.booster_.dump_model()
    objective = str(dump.get("objective", "")).split()[0]

    def walk(t: _Tree, node: dict) -> int:
        i = t.add()
        if "leaf_value" in node:
            t.value[i] = float(node["leaf_value"])
            return i
        if node.get("decision_type", "<=") != "<=":
            raise UnsupportedModelError(
                f"LightGBM split type {node.get('decision_type')!r} (categorical) has no converter",
                stage="export",
                where="model",
                hint="encode categorical features numerically before fitting",
            )
        t.feature[i] = int(node["split_feature"])
        t.threshold[i] = float(node["threshold"])
        t.children_left[i] = walk(t, node["left_child"])
        t.children_right[i] = walk(t, node["right_child"])
        return i

    trees = []
    for info in dump["tree_info"]:
        t = _Tree()
        walk(t, info["tree_structure"])
        trees.append(t)
    return trees, objective


def margin(est, X: np.ndarray) -> np.ndarray:
    """The booster's raw score (its trees' leaves summed, before the sigmoid/softmax): a classifier's ``decision``."""
    kw = {"output_margin": True} if type(est).__module__.startswith("xgboost") else {"raw_score": True}
    return np.asarray(est.predict(X, **kw), np.float64).reshape(len(X), -1)


def booster_to_torch(est, output: str):
    """A torch module computing ``output`` for a fitted XGBoost/LightGBM sklearn model: a classifier's "decision"
    (the raw margin) or "proba", a regressor's "predict". (A classifier's "predict" is the argmax of its decision,
    added by :func:`zkml.model.sklearn.to_torch`.)"""
    from .trees import gemm_trees, stack_trees, tree_arrays

    name = type(est).__name__
    if name not in BOOSTERS:
        raise UnsupportedModelError(
            f"no converter for {type(est).__module__}.{name}",
            stage="export",
            where=name,
            hint=f"use one of {', '.join(BOOSTERS)} (the scikit-learn wrappers)",
        )
    allowed = ("decision", "proba") if name.endswith("Classifier") else ("predict",)
    if output not in allowed:
        raise UnsupportedModelError(
            f"{name} cannot export sklearn_output={output!r} here",
            stage="export",
            where="sklearn_output",
            hint=f"use one of {', '.join(allowed)}",
        )
    nf = int(est.n_features_in_)
    if name.startswith("XGB"):
        trees, objective = _xgb_trees(est)
        per_class = int(est.get_params().get("num_parallel_tree") or 1)
    else:
        trees, objective = _lgbm_trees(est)
        per_class = 1
    kind = _OBJECTIVES.get(objective)
    if kind is not None and output == "decision":
        kind = "none"  # the margin: the objective's sigmoid/softmax left out
    if kind is None:
        raise UnsupportedModelError(
            f"objective {objective!r} has no converter",
            stage="export",
            where="objective",
            hint=f"supported objectives: {', '.join(sorted(_OBJECTIVES))}",
        )
    X0 = np.zeros((1, nf), np.float32)
    n_out = margin(est, X0).shape[1]
    # trees are stored round by round, class by class (per_class trees of each)
    parts = []
    for i, t in enumerate(trees):
        k = (i // per_class) % n_out

        def value(tr, leaf, k=k):
            v = np.zeros(n_out)
            v[k] = tr.value[leaf]
            return v

        parts.append(tree_arrays(t, nf, value))
    A, B, C, D, E = stack_trees(parts)
    # the base margin: what the booster adds beyond its trees' leaves, measured at one point
    leaves = ((X0 @ A <= B).astype(np.float32) @ C == D).astype(np.float32)
    init = (margin(est, X0)[0] - (leaves @ E)[0]).astype(np.float32)
    return gemm_trees(A, B, C, D, E, init, kind)
