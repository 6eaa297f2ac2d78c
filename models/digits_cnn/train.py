"""A small CNN (conv 3x3 x4, ReLU, 2x2 average pool, linear) on the 8x8 digits. Run: python -m models.digits_cnn.train"""

from models.zoo import fit_torch, publish_torch, split


def data():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = split(X / 16.0, y)
    return X_train.reshape(-1, 1, 8, 8), X_test.reshape(-1, 1, 8, 8), y_train, y_test


def build():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, kernel_size=3),
        torch.nn.ReLU(),
        torch.nn.AvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 3 * 3, 10),
    )


def train():
    X_train, X_test, y_train, y_test = data()
    net = fit_torch(build(), X_train, y_train, epochs=30)
    return net, (X_train, X_test, y_train, y_test)


def main():
    net, splits = train()
    print(publish_torch("digits_cnn", net, splits, dataset="sklearn.datasets.load_digits"))


if __name__ == "__main__":
    main()
