"""Publication-quality figures: one style, saved as PDF and PNG side by side."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STYLE = {"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 7, "xtick.labelsize": 8,
         "ytick.labelsize": 8, "axes.spines.top": False, "axes.spines.right": False, "figure.dpi": 100,
         "savefig.bbox": "tight", "lines.linewidth": 1.2, "lines.markersize": 4}
COLOURS = ["#1f3b73", "#e07a1f", "#2a9d5b", "#b5179e", "#7a7a7a", "#d62728"]


def new(ncols: int = 1, width: float = 3.4, height: float = 2.6):
    plt.rcParams.update(STYLE)
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    return fig, axes[0]


def save(fig, out_dir: Path, name: str) -> list[str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    names = []
    for ext in ("pdf", "png"):
        path = out_dir / f"{name}.{ext}"
        fig.savefig(path, dpi=200)
        names.append(path.name)
    plt.close(fig)
    return names
