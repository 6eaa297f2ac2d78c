"""Tree ensembles as matrix products (hummingbird's GEMM form), shared by scikit-learn and the boosters."""

from __future__ import annotations

import numpy as np

from ..support.deps import need


def apply_head(z, kind: str):
    torch = need("torch")
    if kind == "sigmoid2":  # binary: [P(class 0), P(class 1)]
        p = torch.sigmoid(z)
        return torch.cat([1 - p, p], dim=-1)
    if kind == "softmax":
        return torch.softmax(z, dim=-1)
    return z


def tree_arrays(tree, n_features: int, value_fn):
    """A, B, C, D, E of the GEMM formulation for one fitted sklearn tree."""
    t = tree.tree_
    internal = [i for i in range(t.node_count) if t.children_left[i] != -1]
    leaves = [i for i in range(t.node_count) if t.children_left[i] == -1]
    idx = {n: k for k, n in enumerate(internal)}
    A = np.zeros((n_features, max(len(internal), 1)), np.float32)
    B = np.full(max(len(internal), 1), np.inf, np.float32)
    for n in internal:
        A[t.feature[n], idx[n]] = 1.0
        B[idx[n]] = t.threshold[n]
    C = np.zeros((max(len(internal), 1), len(leaves)), np.float32)
    D = np.zeros(len(leaves), np.float32)
    parent = {}
    for n in internal:
        parent[t.children_left[n]] = (n, 1.0)
        parent[t.children_right[n]] = (n, -1.0)
    for j, leaf in enumerate(leaves):
        node = leaf
        while node in parent:
            p, direction = parent[node]
            C[idx[p], j] = direction
            D[j] += direction > 0
            node = p
    E = np.stack([value_fn(t, leaf) for leaf in leaves]).astype(np.float32)
    return A, B, C, D, E


def stack_trees(parts):
    """One ensemble from per-tree (A, B, C, D, E): features and leaves side by side, paths block-diagonal."""
    A = np.concatenate([p[0] for p in parts], axis=1)
    B = np.concatenate([p[1] for p in parts])
    C = _block_diag([p[2] for p in parts])
    D = np.concatenate([p[3] for p in parts])
    E = np.concatenate([p[4] for p in parts], axis=0)
    return A, B, C, D, E


def gemm_trees(A, B, C, D, E, init, kind: str):
    """The GEMM tree ensemble as a torch module: decisions, matching leaves, summed leaf values, head."""
    torch = need("torch")

    class GemmTrees(torch.nn.Module):
        def __init__(self):
            super().__init__()
            for k, v in dict(A=A, B=B, C=C, D=D, E=E, init=np.asarray(init, np.float32)).items():
                self.register_buffer(k, torch.tensor(v))

        def forward(self, x):
            # torch.where keeps ezkl's fixed-point scales consistent; a bool->float cast does not
            one, zero = torch.ones_like(self.B), torch.zeros_like(self.B)
            decisions = torch.where(x @ self.A <= self.B, one, zero)
            lone, lzero = torch.ones_like(self.D), torch.zeros_like(self.D)
            leaves = torch.where(decisions @ self.C == self.D, lone, lzero)
            return apply_head(leaves @ self.E + self.init, kind)

    return GemmTrees()


def _block_diag(mats):
    rows = sum(m.shape[0] for m in mats)
    cols = sum(m.shape[1] for m in mats)
    out = np.zeros((rows, cols), np.float32)
    r = c = 0
    for m in mats:
        out[r : r + m.shape[0], c : c + m.shape[1]] = m
        r += m.shape[0]
        c += m.shape[1]
    return out
