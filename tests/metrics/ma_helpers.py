"""Hand-built regression forests in randomforest-matlab's ``regRF_train`` layout, and model files holding them.

The official ``model.mat`` (github.com/chaoma99/sr-metric) is not available here; these files have its layout
(``model.rf`` a 3 × 1 cell of forest structs, ``model.linear`` 4 × 1) with trees written by hand, so that
their predictions are known without running any code under test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

INTERIOR, TERMINAL, UNUSED = -3, -1, 0  # randomforest-matlab's NODE_INTERIOR, NODE_TERMINAL, unused

#: Feature counts of the official forests (DCT, GSM, PCA).
GROUP_SIZES = (18, 45, 75)


def forest_struct(trees: list[list[tuple]], *, coef: tuple[float, float] = (0.0, 0.0)) -> dict[str, Any]:
    """A ``regRF_train`` struct from trees given node by node (1-based, as MATLAB).

    Each tree is a list of nodes ``("split", variable, threshold, left, right)`` or ``("leaf", value)``;
    shorter trees are padded with unused nodes (``nodestatus`` 0), as ``regTree`` leaves them.
    """
    n_nodes = max(len(t) for t in trees)
    n_trees = len(trees)
    left = np.zeros((n_nodes, n_trees), dtype=np.int32)
    right = np.zeros((n_nodes, n_trees), dtype=np.int32)
    status = np.full((n_nodes, n_trees), UNUSED, dtype=np.int8)
    upper = np.zeros((n_nodes, n_trees))
    avnode = np.zeros((n_nodes, n_trees))
    mbest = np.zeros((n_nodes, n_trees), dtype=np.int32)
    for t, tree in enumerate(trees):
        for k, node in enumerate(tree):
            if node[0] == "split":
                _, variable, threshold, lchild, rchild = node
                status[k, t] = INTERIOR
                mbest[k, t], upper[k, t], left[k, t], right[k, t] = variable, threshold, lchild, rchild
            else:
                status[k, t] = TERMINAL
                avnode[k, t] = node[1]
    return {
        "lDau": left,
        "rDau": right,
        "nodestatus": status,
        "nrnodes": float(n_nodes),
        "upper": upper,
        "avnode": avnode,
        "mbest": mbest,
        "ndtree": np.array([[len(t) for t in trees]], dtype=np.int32),
        "ntree": float(n_trees),
        "coef": np.array([[coef[0]], [coef[1]]]),
    }


#: A forest of three trees on 2 features: x1 <= 0.5 → 1, else (x2 <= 10 → 2, else 3); x2 <= 5 → 10, else 20;
#: a single leaf 7.
TINY_TREES = [
    [("split", 1, 0.5, 2, 3), ("leaf", 1.0), ("split", 2, 10.0, 4, 5), ("leaf", 2.0), ("leaf", 3.0)],
    [("split", 2, 5.0, 2, 3), ("leaf", 10.0), ("leaf", 20.0)],
    [("leaf", 7.0)],
]
#: Samples and the forest's average, worked out by hand from `TINY_TREES` (ties go left).
TINY_SAMPLES = np.array([[0.2, 3.0], [0.5, 5.0], [0.9, 7.0], [0.9, 11.0], [0.9, 5.0]])
TINY_EXPECTED = np.array(
    [(1 + 10 + 7) / 3, (1 + 10 + 7) / 3, (2 + 20 + 7) / 3, (3 + 20 + 7) / 3, (2 + 10 + 7) / 3]
)


def random_forest_struct(
    n_features: int, n_trees: int, thresholds: np.ndarray, rng: np.random.Generator
) -> dict:
    """Full trees of depth 2 splitting on random features at the given per-feature thresholds."""
    trees = []
    for _ in range(n_trees):
        variables = rng.integers(1, n_features + 1, size=3)
        leaves = rng.uniform(0.0, 10.0, size=4)
        trees.append(
            [
                ("split", int(variables[0]), float(thresholds[variables[0] - 1]), 2, 3),
                ("split", int(variables[1]), float(thresholds[variables[1] - 1]), 4, 5),
                ("split", int(variables[2]), float(thresholds[variables[2] - 1]), 6, 7),
                *[("leaf", float(v)) for v in leaves],
            ]
        )
    return forest_struct(trees)


def synthetic_model(seed: int = 0) -> dict[str, Any]:
    """A model struct with the official layout; thresholds near typical feature values of natural images."""
    rng = np.random.default_rng(seed)
    typical = (
        np.tile([0.3, 0.85, 2.8, 1.4, 0.65, 0.15], 3),
        np.concatenate([np.full(12, 1.8), np.full(6, 0.6), np.full(12, 0.87), np.full(15, 0.95)]),
        np.tile(np.geomspace(80.0, 0.5, 25), 3),
    )
    forests = [random_forest_struct(n, 6, t, rng) for n, t in zip(GROUP_SIZES, typical, strict=True)]
    return {"rf": forests, "linear": np.array([[0.5], [0.3], [0.3], [0.4]])}


def evaluate_tree(struct: dict, tree: int, x: np.ndarray) -> float:
    """Walk one tree of a forest struct recursively (1-based MATLAB indices), independently of scansr."""
    node = 1
    while struct["nodestatus"][node - 1, tree] != TERMINAL:
        variable = struct["mbest"][node - 1, tree]
        if x[variable - 1] <= struct["upper"][node - 1, tree]:
            node = struct["lDau"][node - 1, tree]
        else:
            node = struct["rDau"][node - 1, tree]
    return float(struct["avnode"][node - 1, tree])


def evaluate_model(model: dict, groups: tuple[np.ndarray, ...]) -> float:
    """``quality_predict.m`` by hand: ``[1 s1 s2 s3] * linear`` with each ``s`` the mean over the trees."""
    scores = []
    for struct, x in zip(model["rf"], groups, strict=True):
        n_trees = struct["nodestatus"].shape[1]
        scores.append(np.mean([evaluate_tree(struct, t, x) for t in range(n_trees)]))
    return float(np.array([1.0, *scores]) @ model["linear"].ravel())


def write_v5(path: Path, model: dict[str, Any]) -> Path:
    """Save as MATLAB's ``save('model.mat', 'model')`` would (v5): ``model.rf`` a 3 × 1 cell of structs."""
    import scipy.io

    cell = np.empty((len(model["rf"]), 1), dtype=object)
    for k, struct in enumerate(model["rf"]):
        cell[k, 0] = struct
    scipy.io.savemat(path, {"model": {"rf": cell, "linear": model["linear"]}})
    return path


def write_v73(path: Path, model: dict[str, Any]) -> Path:
    """Save in MATLAB's v7.3 (HDF5) layout: arrays transposed, the cell as references into ``#refs#``."""
    import h5py

    with h5py.File(path, "w", userblock_size=512) as file:
        group = file.create_group("model")
        group.attrs["MATLAB_class"] = np.bytes_("struct")
        linear = group.create_dataset("linear", data=np.asarray(model["linear"]).T)
        linear.attrs["MATLAB_class"] = np.bytes_("double")
        refs = file.create_group("#refs#")
        references = []
        for k, struct in enumerate(model["rf"]):
            member = refs.create_group(f"f{k}")
            member.attrs["MATLAB_class"] = np.bytes_("struct")
            for name, value in struct.items():
                member.create_dataset(name, data=np.atleast_2d(np.asarray(value)).T)
            references.append(member.ref)
        cell = group.create_dataset("rf", data=np.array([references], dtype=h5py.ref_dtype))
        cell.attrs["MATLAB_class"] = np.bytes_("cell")
    return path
