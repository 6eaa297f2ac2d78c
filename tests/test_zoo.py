"""The model zoo: committed artifacts, measured metadata, retraining, and every model proves."""

import json
import sys

import numpy as np
import pytest

import zkml
from conftest import ROOT
from zkml import errors

sys.path.insert(0, str(ROOT))
from models import zoo  # noqa: E402


@pytest.fixture(scope="module", params=zoo.NAMES)
def name(request):
    return request.param


def test_folder_is_complete(name):
    d = zoo.folder(name)
    for f in ("train.py", "model.onnx", "sample_input.json", "calibration.npy", "metadata.json"):
        assert (d / f).is_file(), f
    meta = json.loads((d / "metadata.json").read_text())
    model = zkml.load_model(d / "model.onnx")
    assert meta["onnx_sha256"] == model.hash


def test_float_accuracy_is_measured_again(name):
    """The recorded accuracy (README, metadata.json) is what the committed ONNX scores on the held-out rows now."""
    train = __import__(f"models.{name}.train", fromlist=["data"])
    _, X_test, _, y_test = train.data()[:4]
    model = zkml.load_model(zoo.folder(name) / "model.onnx")
    spec = model.inputs[0]
    predicted = [zoo.label(model.run({spec.name: row.reshape(spec.shape)})[0]) for row in X_test]
    measured = float(np.mean(np.asarray(predicted) == np.asarray(y_test)))
    assert measured >= 0.9  # the zoo's stated bound
    assert measured == pytest.approx(
        json.loads((zoo.folder(name) / "metadata.json").read_text())["float_test_accuracy"], abs=0.01
    )


@pytest.fixture(scope="module")
def circuits():
    return {}


def test_circuit_matches_metadata(name, circuits):
    circuit = zoo.compile_zoo(name)
    circuits[name] = circuit
    assert circuit.num_rows <= 2**circuit.logrows and circuit.logrows <= 15  # every zoo circuit fits 2^15 rows
    # a fresh measurement on held-out rows agrees with the float model as the metadata says
    train = __import__(f"models.{name}.train", fromlist=["data"])
    X_test = train.data()[1][:20]
    model = circuit.model
    agreement, _ = zoo.circuit_agreement(
        circuit, X_test, lambda row: model.run({model.inputs[0].name: row.reshape(model.inputs[0].shape)})[0]
    )
    assert agreement >= zoo.spec(name)["tolerance"]["min_top1_agreement"]


@pytest.mark.parametrize(
    "which",
    [
        "digits_mlp",
        "digits_cnn",
        "credit_logreg",
        "iris_forest",
        pytest.param("wine_attention", marks=pytest.mark.slow),
    ],
)
def test_zoo_model_proves(which):
    model, _, sample, _ = zoo.load(which)
    keys = zoo.compile_zoo(which).setup()
    proof = keys.prove(sample)
    assert zkml.verify(proof, keys.vk)
    (ref,) = model.run({model.inputs[0].name: sample.reshape(model.inputs[0].shape)})
    assert zoo.label(proof.outputs[0]) == zoo.label(ref)


def test_retraining_reproduces_the_committed_model(name):
    """Training is seeded: a retrain gives (nearly) the committed model's outputs on held-out rows."""
    train = __import__(f"models.{name}.train", fromlist=["train"])
    fitted, splits = train.train()
    X_test = splits[1][:50]
    committed = zkml.load_model(zoo.folder(name) / "model.onnx")
    kind = committed.inputs[0]
    if hasattr(fitted, "forward"):
        import torch

        with torch.no_grad():
            new = fitted(torch.tensor(X_test, dtype=torch.float32)).numpy()
    else:
        out = "decision" if name == "credit_logreg" else "proba"
        new = zkml.export(fitted, splits[0], sklearn_output=out).run({kind.name: X_test[:1]})[0]
        X_test = X_test[:1]
    old = np.concatenate([committed.run({kind.name: row.reshape(kind.shape)})[0] for row in X_test])
    np.testing.assert_allclose(new.reshape(old.shape), old, atol=1e-3, rtol=1e-3)


# scikit-learn export
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_sklearn_estimators_export_with_parity():
    from sklearn.datasets import load_iris
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LinearRegression
    from sklearn.neural_network import MLPRegressor

    X, y = load_iris(return_X_y=True)
    for est, out in [
        (GradientBoostingClassifier(n_estimators=3, max_depth=2, random_state=0).fit(X, y), "proba"),
        (LinearRegression().fit(X[:, :3], X[:, 3]), "predict"),
        (MLPRegressor(hidden_layer_sizes=(4,), max_iter=50, random_state=0).fit(X[:, :3], X[:, 3]), "predict"),
    ]:
        Xs = X[:20, : est.n_features_in_]
        m = zkml.export(est, Xs, sklearn_output=out)
        assert m.source.startswith("sklearn:") and m.parity["max_abs_error"] < 1e-4
        assert m.inputs[0].shape == (1, est.n_features_in_)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_unsupported_estimators_are_clear_errors():
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    X, y = load_iris(return_X_y=True)
    with pytest.raises(errors.UnsupportedModelError, match="no converter for sklearn's SVC") as ei:
        zkml.export(SVC().fit(X, y), X[:2])
    assert "supported:" in ei.value.hint
    with pytest.raises(errors.UnsupportedModelError, match="not fitted"):
        zkml.export(LogisticRegression(), X[:2])
    with pytest.raises(errors.ModelError, match="features"):
        zkml.export(LogisticRegression().fit(X, y), X[:2, :2])
    with pytest.raises(errors.ModelError, match="sklearn_output"):
        zkml.export(LogisticRegression().fit(X, y), X[:2], sklearn_output="labels")


# sklearn_output: the cheapest output to prove by default, every value works or is refused
def _iris():
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_each_estimator_defaults_to_its_cheapest_output_and_refuses_what_it_has_not():
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import LinearSVC
    from sklearn.tree import DecisionTreeClassifier

    X, y = _iris()
    cases = {  # estimator: (default, outputs it exports, outputs it refuses)
        LogisticRegression(max_iter=500): ("decision", ("proba", "predict"), ()),
        LinearSVC(): ("decision", ("predict",), ("proba",)),
        MLPClassifier(hidden_layer_sizes=(5,), max_iter=300, random_state=0): ("decision", ("proba", "predict"), ()),
        GradientBoostingClassifier(n_estimators=3, max_depth=2, random_state=0): ("decision", ("proba", "predict"), ()),
        RandomForestClassifier(n_estimators=3, max_depth=2, random_state=0): ("proba", ("predict",), ("decision",)),
        DecisionTreeClassifier(max_depth=2, random_state=0): ("proba", ("predict",), ("decision",)),
        LinearRegression(): ("predict", (), ("proba", "decision")),
    }
    for est, (default, works, refused) in cases.items():
        target = X[:, 3] if type(est).__name__ == "LinearRegression" else y
        est.fit(X[:, :3] if target is not y else X, target)
        Xs = (X[:, :3] if target is not y else X)[::7]
        m = zkml.export(est, Xs)
        assert m.parity["output"] == default and type(est).__name__ in m.parity["output_note"], est
        for out in works:
            got = zkml.export(est, Xs, sklearn_output=out)
            assert got.parity["output"] == out and got.parity["max_abs_error"] < 1e-4
        for out in refused:
            with pytest.raises(errors.UnsupportedModelError, match=f"cannot export sklearn_output='{out}'") as ei:
                zkml.export(est, Xs, sklearn_output=out)
            assert ei.value.where == "sklearn_output" and default in ei.value.hint
    note = zkml.export(LogisticRegression(max_iter=500).fit(X, y), X[:5]).parity["output_note"]
    assert "cheapest" in note and "sklearn_output='proba'" in note and "2^17" in note
    onnx = zkml.export(LinearRegression().fit(X[:, :3], X[:, 3]), X[:2, :3]).onnx_bytes
    with pytest.raises(errors.ModelError, match="sklearn_output"):
        zkml.export(onnx, sklearn_output="proba")  # an ONNX model has no scikit-learn output to choose


def test_predict_on_a_classifier_is_the_class_index_and_proves_small():
    """The issue's case: LogisticRegression on iris compiles to 2^11 rows by default (proba: 2^17), and "predict",
    which crashed with a reshape error, proves the label scikit-learn predicts."""
    from sklearn.linear_model import LogisticRegression

    X, y = _iris()
    est = LogisticRegression(max_iter=500).fit(X, y)
    assert zkml.compile(zkml.export(est, X[::10]), X[::10]).logrows <= 12
    m = zkml.export(est, X[::10], sklearn_output="predict")
    assert m.outputs[0].shape == (1, 1) and "index into classes_" in m.parity["output_note"]
    keys = zkml.compile(m, X[::10]).setup()
    assert keys.circuit.logrows <= 12
    for row in (X[5], X[60], X[120]):
        proof = keys.prove(row)
        assert zkml.verify(proof, keys.vk)
        assert proof.outputs[0].reshape(-1).tolist() == [float(est.predict(row[None])[0])]


def test_predict_with_string_labels_is_the_index_into_classes():
    from sklearn.linear_model import LogisticRegression

    X, y = _iris()
    est = LogisticRegression(max_iter=500).fit(X, np.array(["setosa", "versicolor", "virginica"])[y])
    m = zkml.export(est, X[::10], sklearn_output="predict")
    (got,) = m.run({m.inputs[0].name: X[120:121].astype(np.float32)})
    assert est.classes_[int(got.reshape(-1)[0])] == est.predict(X[120:121])[0]
    assert "['setosa', 'versicolor', 'virginica']" in m.parity["output_note"]


def test_binary_decision_is_one_score_and_predict_its_sign():
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    X, y = load_breast_cancer(return_X_y=True)
    X = X[:, :5]
    est = LogisticRegression(max_iter=2000).fit(X, y)
    m = zkml.export(est, X[:40])
    assert m.parity["output"] == "decision" and m.outputs[0].shape == (1, 1) and "sigmoid" in m.parity["output_note"]
    p = zkml.export(est, X[:40], sklearn_output="predict")
    labels = [p.run({p.inputs[0].name: X[i : i + 1].astype(np.float32)})[0].item() for i in range(0, 200, 9)]
    assert labels == est.predict(X[0:200:9]).astype(float).tolist()


def test_cli_export_takes_sklearn_output_and_prints_the_note(tmp_path):
    from conftest import run_cli

    (tmp_path / "est.py").write_text(
        "from sklearn.datasets import load_iris\nfrom sklearn.linear_model import LogisticRegression\n"
        "def build():\n    X, y = load_iris(return_X_y=True)\n    return LogisticRegression(max_iter=500).fit(X, y)\n"
    )
    X, _ = _iris()
    np.save(tmp_path / "X.npy", X[::10])
    res = run_cli("export", f"{tmp_path / 'est.py'}:build", "--sample", tmp_path / "X.npy", "-o", tmp_path / "m.onnx")
    assert res.returncode == 0, res.stderr
    assert (
        "parity vs scikit-learn" in res.stdout
        and "output    decision" in res.stdout
        and "--sklearn-output proba" in res.stdout
    )
    res = run_cli(
        "export",
        f"{tmp_path / 'est.py'}:build",
        "--sample",
        tmp_path / "X.npy",
        "-o",
        tmp_path / "p.onnx",
        "--sklearn-output",
        "predict",
        "--json",
    )
    info = json.loads(res.stdout)
    assert info["sklearn_output"] == "predict" and zkml.load_model(tmp_path / "p.onnx").outputs[0].shape == (1, 1)
    res = run_cli(
        "export",
        f"{tmp_path / 'est.py'}:build",
        "--sample",
        tmp_path / "X.npy",
        "-o",
        tmp_path / "q.onnx",
        "--sklearn-output",
        "labels",
    )
    assert res.returncode == 2 and "labels" in res.stderr  # not a choice: a usage error
    assert "--sklearn-output" in run_cli("export", "--help").stdout


def test_boosters_default_to_their_margin_and_predict_the_label():
    from sklearn.datasets import load_breast_cancer

    xgboost, lightgbm = _boosters()
    Xi, yi = _iris()
    Xb, yb = load_breast_cancer(return_X_y=True)
    Xb = Xb[:, :6]
    for est, X, y in [
        (xgboost.XGBClassifier(n_estimators=3, max_depth=2, random_state=0), Xi, yi),
        (lightgbm.LGBMClassifier(n_estimators=3, num_leaves=4, verbose=-1), Xb, yb),
    ]:
        est.fit(X, y)
        m = zkml.export(est, X[:30])
        assert m.parity["output"] == "decision"
        kw = {"output_margin": True} if type(est).__module__.startswith("xgboost") else {"raw_score": True}
        np.testing.assert_allclose(
            m.run({m.inputs[0].name: X[40:41].astype(np.float32)})[0].reshape(-1),
            np.asarray(est.predict(X[40:41], **kw)).reshape(-1),
            atol=1e-4,
        )
        p = zkml.export(est, X[:30], sklearn_output="predict")
        got = [p.run({p.inputs[0].name: X[i : i + 1].astype(np.float32)})[0].item() for i in range(0, len(X), 11)]
        assert got == est.predict(X[::11]).astype(float).tolist()


def _boosters():
    xgboost = pytest.importorskip("xgboost")
    lightgbm = pytest.importorskip("lightgbm")
    return xgboost, lightgbm


def test_xgboost_and_lightgbm_export_with_parity_and_prove():
    """Both boosters' scikit-learn wrappers: binary, multi-class and regression, parity against their own predictions."""
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

    xgboost, lightgbm = _boosters()
    Xi, yi = load_iris(return_X_y=True)
    Xb, yb = load_breast_cancer(return_X_y=True)
    Xr, yr = load_diabetes(return_X_y=True)
    Xb = Xb[:, :6]
    small = dict(n_estimators=3, random_state=0)
    cases = [
        (xgboost.XGBClassifier(max_depth=2, **small), Xi, yi),
        (xgboost.XGBClassifier(max_depth=2, **small), Xb, yb),
        (xgboost.XGBRegressor(max_depth=2, **small), Xr, yr),
        (lightgbm.LGBMClassifier(num_leaves=4, verbose=-1, **small), Xi, yi),
        (lightgbm.LGBMClassifier(num_leaves=4, verbose=-1, **small), Xb, yb),
        (lightgbm.LGBMRegressor(num_leaves=4, verbose=-1, **small), Xr, yr),
    ]
    models = []
    for est, X, y in cases:
        est.fit(X, y)
        m = zkml.export(est, X[:30], sklearn_output="proba" if hasattr(est, "predict_proba") else None)
        ref = est.predict_proba(X[30:31]) if hasattr(est, "predict_proba") else est.predict(X[30:31]).reshape(1, -1)
        got = m.run({m.inputs[0].name: X[30:31].astype(np.float32)})[0]
        assert m.source == f"sklearn:{type(est).__name__}" and m.parity["rows"] == 30
        np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-3)
        models.append((m, X))
    # one of each booster all the way to a verified proof that agrees with the booster
    for m, X in (models[0], models[3]):
        keys = zkml.compile(m, X[:16]).setup()
        proof = keys.prove(X[7])
        assert zkml.verify(proof, keys.vk)
        np.testing.assert_allclose(
            proof.outputs[0].reshape(-1), m.run({m.inputs[0].name: X[7:8].astype(np.float32)})[0].reshape(-1), atol=0.01
        )


def test_booster_negative_cases():
    from sklearn.datasets import load_iris

    xgboost, lightgbm = _boosters()
    X, y = load_iris(return_X_y=True)
    with pytest.raises(errors.UnsupportedModelError, match="not fitted"):
        zkml.export(xgboost.XGBClassifier(), X[:2])
    with pytest.raises(errors.UnsupportedModelError, match="cannot export sklearn_output='proba'") as ei:
        zkml.export(lightgbm.LGBMRegressor(n_estimators=2, verbose=-1).fit(X, y), X[:2], sklearn_output="proba")
    assert ei.value.where == "sklearn_output" and "predict" in ei.value.hint
    with pytest.raises(errors.UnsupportedModelError, match="objective 'count:poisson'") as ei:
        zkml.export(xgboost.XGBRegressor(n_estimators=2, objective="count:poisson").fit(X, y), X[:2])
    assert "reg:squarederror" in ei.value.hint
    with pytest.raises(errors.UnsupportedModelError, match="no converter for xgboost's XGBRanker"):
        zkml.export(xgboost.XGBRanker(n_estimators=2).fit(X, y, qid=np.zeros(len(y), int)), X[:2])


def test_tree_ensemble_outputs_a_clear_error_for_ml_ops(tmp_path):
    """ONNX-ML ops (skl2onnx's TreeEnsembleClassifier) are named when ezkl cannot compile them."""
    pytest.importorskip("skl2onnx")
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_iris(return_X_y=True)
    est = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)
    onx = to_onnx(
        est, X[:1].astype(np.float32), options={id(est): {"zipmap": False}}, target_opset={"": 18, "ai.onnx.ml": 3}
    )
    model = zkml.load_model(onx.SerializeToString())
    with pytest.raises(errors.UnsupportedModelError, match="TreeEnsembleClassifier") as ei:
        zkml.compile(model, X[:4])
    assert "zkml.export" in ei.value.hint or "supported ops" in ei.value.hint
