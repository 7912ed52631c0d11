"""Figure helpers the experiments share. Figures are `matplotlib.figure.Figure` objects, not
pyplot's: nothing is shown, no backend is selected (importing this module changes no global
matplotlib setting), and `fig.savefig(path)` writes the file."""

from __future__ import annotations

from typing import Any, Callable

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


__all__ = ["figure", "label", "decision_boundary", "contour_path"]
