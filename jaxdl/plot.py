"""Figure helpers the experiments share. Figures are `matplotlib.figure.Figure` objects, not
pyplot's: nothing is shown, no backend is selected (importing this module changes no global
matplotlib setting), and `fig.savefig(path)` writes the file."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from matplotlib.figure import Figure


def figure(ncols: int = 1, nrows: int = 1, *, width: float = 4.2, height: float = 3.4) -> tuple:
    """A figure with an (nrows, ncols) grid of axes, always returned as a 2-D array of axes."""
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def label(ax: Any, title: str, xlabel: str, ylabel: str, *, legend: bool = False) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize=8)


def decision_boundary(ax: Any, predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                      y: np.ndarray, *, steps: int = 200, title: str = "") -> None:
    """Shade `predict`'s class regions over the bounding box of `x` (n, 2); scatter the points."""
    lo, hi = x.min(0) - 0.5, x.max(0) + 0.5
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], steps), np.linspace(lo[1], hi[1], steps))
    grid = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)
    z = np.asarray(predict(grid)).reshape(gx.shape)
    ax.contourf(gx, gy, z, alpha=0.3, cmap="coolwarm")
    ax.scatter(x[:, 0], x[:, 1], c=y, cmap="coolwarm", s=12, edgecolors="k", linewidths=0.3)
    label(ax, title, "$x_1$", "$x_2$")


def contour_path(ax: Any, f: Callable[[np.ndarray, np.ndarray], np.ndarray],
                 paths: dict[str, np.ndarray], bounds: tuple[float, float, float, float], *,
                 title: str = "", levels: int = 30, log: bool = True) -> None:
    """Contours of f(x, y) over `bounds` (xmin, xmax, ymin, ymax) with optimizer paths (T, 2)."""
    gx, gy = np.meshgrid(np.linspace(bounds[0], bounds[1], 300),
                         np.linspace(bounds[2], bounds[3], 300))
    z = f(gx, gy)
    ax.contour(gx, gy, np.log1p(z) if log else z, levels=levels, cmap="Greys", linewidths=0.6)
    for name, p in paths.items():
        ax.plot(p[:, 0], p[:, 1], "-o", ms=1.5, lw=1, label=name)
    ax.set_xlim(bounds[0], bounds[1])
    ax.set_ylim(bounds[2], bounds[3])
    label(ax, title, "$w_1$", "$w_2$", legend=True)


def confusion_matrix(ax: Any, cm: Any, *, labels: Sequence[str] | None = None,
                     normalize: bool = False, title: str = "") -> Any:
    """Draw a confusion matrix `cm` (C, C) (rows true, columns predicted, as
    `jaxdl.metrics.confusion_matrix` returns it) as a heat map with a colour bar; each cell is
    written on it when C <= 20.

    Args:
      ax: the matplotlib axes to draw on (from `figure()`).
      cm: (C, C) non-negative counts.
      labels: C class names for the ticks; default "0" ... "C-1".
      normalize: divide each row by its sum, so a cell is the fraction of that true class (a
        row with no example stays 0) and the diagonal is the per-class recall.
      title: the axes title.

    Returns:
      the `AxesImage` drawn.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] < 1:
        raise ValueError(f"confusion_matrix: cm must be a square (C, C) matrix, got shape "
                         f"{cm.shape}")
    if not np.issubdtype(cm.dtype, np.number) or np.any(cm < 0) or np.any(np.isnan(cm)):
        raise ValueError(f"confusion_matrix: cm must hold counts >= 0, got {cm!r}")
    c = cm.shape[0]
    names = [str(i) for i in range(c)] if labels is None else [str(n) for n in labels]
    if len(names) != c:
        raise ValueError(f"confusion_matrix: labels must name the {c} classes of cm, got "
                         f"{len(names)}: {labels!r}")
    values = cm.astype(np.float64)
    if normalize:
        rows = values.sum(1, keepdims=True)
        values = np.divide(values, rows, out=np.zeros_like(values), where=rows > 0)
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None)
    ax.figure.colorbar(image, ax=ax)
    if c <= 20:
        high = values.max() / 2 if values.max() > 0 else 1.0
        for (i, j), v in np.ndenumerate(values):
            text = f"{v:.2f}" if normalize else f"{int(cm[i, j]):d}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if v > high else "black")
    ax.set_xticks(range(c), names, rotation=45 if c > 10 else 0)
    ax.set_yticks(range(c), names)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return image


__all__ = ["figure", "label", "decision_boundary", "contour_path", "confusion_matrix"]
