"""An MLP (64-32-10) on scikit-learn's 8x8 digits. Run: python -m models.digits_mlp.train"""

from models.zoo import fit_torch, publish_torch, split


def data():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return split(X / 16.0, y)


def build():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))


def train():
    X_train, X_test, y_train, y_test = data()
    net = fit_torch(build(), X_train, y_train, epochs=30)
    return net, (X_train, X_test, y_train, y_test)


def main():
    net, splits = train()
    print(publish_torch("digits_mlp", net, splits, dataset="sklearn.datasets.load_digits"))


if __name__ == "__main__":
    main()
