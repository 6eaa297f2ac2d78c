"""Logistic regression on breast cancer as a credit-score-style threshold model.

The exported model outputs scikit-learn's decision function (the logit): a linear circuit whose
public output an application contract compares with a threshold. Features are standardised with
the training split's mean and deviation (saved in metadata.json). Run: python -m models.credit_logreg.train
"""

from models.zoo import publish, split


def data():
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = split(X, y)
    mu, sd = X_train.mean(0), X_train.std(0)
    return (X_train - mu) / sd, (X_test - mu) / sd, y_train, y_test, mu, sd


def train():
    from sklearn.linear_model import LogisticRegression

    X_train, X_test, y_train, y_test, mu, sd = data()
    est = LogisticRegression(C=0.5, max_iter=1000, random_state=0).fit(X_train, y_train)
    return est, (X_train, X_test, y_train, y_test)


def main():
    import zkml

    est, (X_train, X_test, _, y_test) = train()
    model = zkml.export(est, X_train, sklearn_output="decision")
    _, _, _, _, mu, sd = data()

    def predict(row):  # the logit; its sign is the predicted label
        return est.decision_function(row.reshape(1, -1)).reshape(1, 1)

    meta = publish(
        "credit_logreg",
        model,
        X_train,
        X_test,
        y_test,
        predict,
        dataset="sklearn.datasets.load_breast_cancer",
        extra={"feature_mean": mu.tolist(), "feature_std": sd.tolist(), "output": "logit (decision_function)"},
    )
    print(meta)


if __name__ == "__main__":
    main()
