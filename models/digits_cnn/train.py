"""A small CNN (conv 3x3 x4, ReLU, 2x2 average pool, linear) on the 8x8 digits. Run: python -m models.digits_cnn.train"""

import numpy as np

from models.zoo import fit_torch, publish, split


def data():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = split(X / 16.0, y)
    return X_train.reshape(-1, 1, 8, 8), X_test.reshape(-1, 1, 8, 8), y_train, y_test


def build():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, kernel_size=3), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(4 * 3 * 3, 10))


def train():
    X_train, X_test, y_train, y_test = data()
    net = fit_torch(build(), X_train, y_train, epochs=30)
    return net, (X_train, X_test, y_train, y_test)


def main():
    import torch

    import zkml

    net, (X_train, X_test, _, y_test) = train()
    model = zkml.export(net, torch.tensor(X_test[:1]))

    def predict(row):
        with torch.no_grad():
            return net(torch.tensor(row, dtype=torch.float32).reshape(1, 1, 8, 8)).numpy()

    print(publish("digits_cnn", model, X_train, X_test, y_test, predict, dataset="sklearn.datasets.load_digits"))


if __name__ == "__main__":
    main()
