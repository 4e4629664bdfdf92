"""Small gradient-boosted trees on top of the logistic confidence (``--model boosted``).

The logistic fit is one straight line through the signals; what it cannot say is "a
missing name matters when the span is a figure" or "a high span score means nothing from
the fourth passage". Boosting starts from the logistic margin and adds shallow regression
trees fitted by Newton steps to what the line still gets wrong (residual boosting), so the
boosted confidence is the logistic one where the line is right. Trees are fitted here with
numpy (histogram splits on quantile bins); they are evaluated on the question path in plain
Python (``qa.answer.confidence.Tree``), so nothing heavy loads to answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.answer.confidence import Tree


@dataclass(frozen=True)
class BoostConfig:
    """Shape of the boosted fit; defaults measured on the stage-6 calibration rows."""

    rounds: int = 300
    """Most trees; early stopping on the held-out fifth picks how many are kept."""
    depth: int = 3
    learning_rate: float = 0.05
    min_leaf: int = 40
    """Fewest (weighted) questions in a leaf: 5,690 rows, a few hundred per kind."""
    l2: float = 5.0
    """Ridge on each leaf's Newton step."""
    bins: int = 32
    patience: int = 30
    """Rounds without a better held-out log loss before stopping."""
    exclude: tuple[str, ...] = ()
    """Signals the trees never split on (the logistic part still weighs them)."""


def _bin_edges(x: np.ndarray, bins: int) -> list[np.ndarray]:
    """Candidate thresholds per feature: distinct inner quantiles."""
    qs = np.linspace(0, 1, bins + 1)[1:-1]
    return [np.unique(np.quantile(x[:, j], qs)) for j in range(x.shape[1])]


def _binned(x: np.ndarray, edges: list[np.ndarray]) -> np.ndarray:
    """Bin index of each value: value <= edges[k] falls in bin k or lower."""
    return np.stack([np.searchsorted(e, x[:, j], side="left") for j, e in enumerate(edges)], axis=1)


def _fit_tree(
    xb: np.ndarray,
    edges: list[np.ndarray],
    g: np.ndarray,
    h: np.ndarray,
    sw: np.ndarray,
    cfg: BoostConfig,
    skip: frozenset[int],
) -> Tree:
    feature: list[int] = []
    threshold: list[float] = []
    left: list[int] = []
    right: list[int] = []
    value: list[float] = []

    def leaf(idx: np.ndarray) -> int:
        feature.append(-1)
        threshold.append(0.0)
        left.append(-1)
        right.append(-1)
        value.append(float(-cfg.learning_rate * g[idx].sum() / (h[idx].sum() + cfg.l2)))
        return len(feature) - 1

    def grow(idx: np.ndarray, depth: int) -> int:
        if depth >= cfg.depth or sw[idx].sum() < 2 * cfg.min_leaf:
            return leaf(idx)
        gs, hs = g[idx].sum(), h[idx].sum()
        parent = gs * gs / (hs + cfg.l2)
        best = (1e-9, -1, -1)
        for j, e in enumerate(edges):
            if not len(e) or j in skip:
                continue
            nb = len(e) + 1
            bj = xb[idx, j]
            gl = np.cumsum(np.bincount(bj, weights=g[idx], minlength=nb))[:-1]
            hl = np.cumsum(np.bincount(bj, weights=h[idx], minlength=nb))[:-1]
            cl = np.cumsum(np.bincount(bj, weights=sw[idx], minlength=nb))[:-1]
            cr = sw[idx].sum() - cl
            gain = gl * gl / (hl + cfg.l2) + (gs - gl) ** 2 / (hs - hl + cfg.l2) - parent
            gain[(cl < cfg.min_leaf) | (cr < cfg.min_leaf)] = -np.inf
            k = int(np.argmax(gain))
            if gain[k] > best[0]:
                best = (float(gain[k]), j, k)
        if best[1] < 0:
            return leaf(idx)
        _, j, k = best
        node = len(feature)
        feature.append(j)
        threshold.append(float(edges[j][k]))
        left.append(-1)
        right.append(-1)
        value.append(0.0)
        go_left = xb[idx, j] <= k
        left[node] = grow(idx[go_left], depth + 1)
        right[node] = grow(idx[~go_left], depth + 1)
        return node

    grow(np.arange(len(g)), 0)
    return Tree(tuple(feature), tuple(threshold), tuple(left), tuple(right), tuple(value))


def predict(trees: list[Tree], x: np.ndarray) -> np.ndarray:
    """The trees' sum for each row of ``x``."""
    out = np.zeros(len(x))
    for t in trees:
        out += np.array([t.value_of(row) for row in x])
    return out


def log_loss(margin: np.ndarray, y: np.ndarray, sw: np.ndarray) -> float:
    p = 1.0 / (1.0 + np.exp(-np.clip(margin, -30, 30)))
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-(sw * (y * np.log(p) + (1 - y) * np.log(1 - p))).sum() / sw.sum())


def fit_boosted(
    x: np.ndarray,
    y: np.ndarray,
    base: np.ndarray,
    sw: np.ndarray,
    cfg: BoostConfig,
    rounds: int | None = None,
    valid: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
    skip: frozenset[int] = frozenset(),
) -> tuple[list[Tree], list[float]]:
    """Trees added to the margin ``base`` (the logistic fit's) on features ``x`` (raw, not
    standardised), fitted to labels ``y`` with sample weights ``sw``. With ``valid`` (x, y,
    base, weights) the held-out log loss after each round is returned, and fitting stops
    ``patience`` rounds after its best; the trees are cut back to that best. Columns in
    ``skip`` are never split on."""
    edges = _bin_edges(x, cfg.bins)
    xb = _binned(x, edges)
    margin = base.astype(np.float64).copy()
    trees: list[Tree] = []
    losses: list[float] = []
    vmargin = valid[2].astype(np.float64).copy() if valid else None
    for _ in range(rounds or cfg.rounds):
        p = 1.0 / (1.0 + np.exp(-np.clip(margin, -30, 30)))
        g = sw * (p - y)
        h = sw * np.maximum(p * (1 - p), 1e-6)
        tree = _fit_tree(xb, edges, g, h, sw, cfg, skip)
        trees.append(tree)
        margin += predict([tree], x)
        if valid is not None and vmargin is not None:
            vx, vy, _, vw = valid
            vmargin += predict([tree], vx)
            losses.append(log_loss(vmargin, vy, vw))
            best = int(np.argmin(losses))
            if len(losses) - 1 - best >= cfg.patience:
                break
    if valid is not None and losses:
        trees = trees[: int(np.argmin(losses)) + 1]
    return trees, losses


__all__ = ["BoostConfig", "fit_boosted", "log_loss", "predict"]
