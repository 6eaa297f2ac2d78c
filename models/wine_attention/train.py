"""One-head self-attention over the 13 wine features as tokens, then mean-pooling and a linear head.
Run: python -m models.wine_attention.train"""

from models.zoo import fit_torch, publish_torch, split

D = 4


def data():
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True)
    X_train, X_test, y_train, y_test = split(X, y)
    mu, sd = X_train.mean(0), X_train.std(0)
    return (X_train - mu) / sd, (X_test - mu) / sd, y_train, y_test


def build():
    import torch

    class FeatureAttention(torch.nn.Module):
        def __init__(self, n: int = 13, d: int = D, classes: int = 3):
            super().__init__()
            torch.manual_seed(0)
            self.embed = torch.nn.Parameter(torch.randn(n, d) * 0.5)  # token i = x_i * embed_i + pos_i
            self.pos = torch.nn.Parameter(torch.randn(n, d) * 0.1)
            self.q = torch.nn.Linear(d, d)
            self.k = torch.nn.Linear(d, d)
            self.v = torch.nn.Linear(d, d)
            self.head = torch.nn.Linear(d, classes)

        def forward(self, x):
            tokens = x.unsqueeze(-1) * self.embed + self.pos  # (B, 13, d)
            scores = self.q(tokens) @ self.k(tokens).transpose(1, 2) / (D**0.5)
            attended = torch.softmax(scores, dim=-1) @ self.v(tokens)
            return self.head(attended.mean(dim=1))

    return FeatureAttention()


def train():
    X_train, X_test, y_train, y_test = data()
    net = fit_torch(build(), X_train, y_train, epochs=60)
    return net, (X_train, X_test, y_train, y_test)


def main():
    net, splits = train()
    print(publish_torch("wine_attention", net, splits, dataset="sklearn.datasets.load_wine"))


if __name__ == "__main__":
    main()
