"""A random forest (5 trees, depth 3) on iris, exported through zkml's GEMM tree converter.
Run: python -m models.iris_forest.train"""

from models.zoo import publish, split


def data():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    return split(X, y)


def train():
    from sklearn.ensemble import RandomForestClassifier

    X_train, X_test, y_train, y_test = data()
    est = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X_train, y_train)
    return est, (X_train, X_test, y_train, y_test)


def main():
    import zkml

    est, (X_train, X_test, _, y_test) = train()
    model = zkml.export(est, X_train)
    print(
        publish(
            "iris_forest",
            model,
            X_train,
            X_test,
            y_test,
            lambda row: est.predict_proba(row.reshape(1, -1)),
            dataset="sklearn.datasets.load_iris",
        )
    )


if __name__ == "__main__":
    main()
