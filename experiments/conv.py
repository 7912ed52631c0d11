"""Convolution arithmetic: the 5x5 worked example, the output-size formula against real layers,
the 7x7x3 two-filter layer vs a dense layer (and its parameter count at any input size), 2x2 max /
average pooling, and the printed local response normalization formula against the LRN layer."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from _harness import Experiment, run

from jaxdl import plot
from jaxdl.core import count_params
from jaxdl.nn.conv import Conv2D, conv_output_size
from jaxdl.nn.dense import Dense
from jaxdl.nn.normalization import LocalResponseNorm
from jaxdl.nn.pooling import AvgPool2D, MaxPool2D


def main(quick: bool) -> Experiment:
    ex = Experiment("conv", "how a convolution layer computes its output, and what it costs",
                    "000 sections 3.2.3 (convolution), 3.2.4 (pooling), 3.6.7 (LRN formula)",
                    quick=quick)
    key = jax.random.key(0)

    # The text's figure (the classic image/filter pair of this example):
    # a_00 = 1+0+1+0+1+0+0+0+1 = 4.
    image = np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0],
                      [0, 1, 1, 0, 0]], np.float32)
    kernel = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], np.float32)
    params = {"w": jnp.asarray(kernel)[:, :, None, None], "b": jnp.zeros((1,))}
    maps = {}
    for s in (1, 2):
        y, _ = Conv2D(1, 3, strides=s).apply(params, {}, jnp.asarray(image)[None, :, :, None])
        maps[s] = np.asarray(jax.nn.relu(y))[0, :, :, 0]
    ex.metrics["feature_map_stride1"] = maps[1]
    ex.metrics["feature_map_stride2"] = maps[2]
    ex.text("Feature map, stride 1:\n\n```\n" + str(maps[1].astype(int))
            + "\n```\n\nStride 2:\n\n```\n" + str(maps[2].astype(int)) + "\n```")
    ex.verdict("5x5 image * 3x3 filter, stride 1 gives a 3x3 map with a_00 = 4",
               maps[1].shape == (3, 3) and maps[1][0, 0] == 4,
               f"shape {maps[1].shape}, a_00 = {maps[1][0, 0]:g}")
    ex.verdict("Stride 2 gives a 2x2 map: (5 - 3 + 0)/2 + 1 = 2", maps[2].shape == (2, 2)
               and conv_output_size(5, 3, 0, 2) == 2, f"shape {maps[2].shape}")

    # The formula against real layers over a grid.
    grid = list(itertools.product(ex.pick((5, 6, 7, 8, 9, 12, 16, 28), (5, 8)),
                                  ex.pick((1, 2, 3, 5), (2, 3)), ex.pick((0, 1, 2), (0, 1)),
                                  ex.pick((1, 2, 3), (1, 3))))
    checked, wrong = 0, []
    for w_, f, p, s in grid:
        if w_ + 2 * p < f:
            continue
        layer = Conv2D(2, f, strides=s, padding=p)
        _, _, out = layer.init(key, (w_, w_, 1))
        y, _ = layer.apply(layer.init(key, (w_, w_, 1))[0], {}, jnp.zeros((1, w_, w_, 1)))
        formula = conv_output_size(w_, f, p, s)
        checked += 1
        if not (out[0] == y.shape[1] == formula):
            wrong.append((w_, f, p, s, formula, y.shape[1]))
    ex.metrics["formula_grid"] = {"checked": checked, "mismatches": wrong}
    ex.verdict("W2 = floor((W1 - F + 2P)/S) + 1 matches the real layer output size", not wrong,
               f"{checked} (W, F, P, S) combinations, {len(wrong)} mismatches")

    # Two 3x3x3 filters, stride 2, zero padding 1. The text's "7x7x3 input" is the volume after
    # padding a 5x5x3 image by 1 (its figure): (5 - 3 + 2*1)/2 + 1 = 3. The unpadded 7x7x3 with
    # padding 1 gives 4.
    conv = Conv2D(2, 3, strides=2, padding=1)
    cp, _, cout = conv.init(key, (5, 5, 3))
    _, _, cout_7p1 = conv.init(key, (7, 7, 3))
    _, _, cout_7p0 = Conv2D(2, 3, strides=2, padding=0).init(key, (7, 7, 3))
    dense = Dense(3 * 3 * 2)
    dp, _, _ = dense.init(key, (7 * 7 * 3,))
    ex.table("Two 3x3x3 filters (stride 2) vs a dense layer",
             ["layer", "input", "output", "parameters"],
             [["Conv2D(2, 3, strides=2, padding=1)", "5x5x3 (7x7x3 once padded)",
               "x".join(map(str, cout)), count_params(cp)],
              ["Conv2D(2, 3, strides=2, padding=0)", "7x7x3 (padded by hand)",
               "x".join(map(str, cout_7p0)), count_params(cp)],
              ["Conv2D(2, 3, strides=2, padding=1)", "7x7x3 padded again",
               "x".join(map(str, cout_7p1)), count_params(cp)],
              ["Dense(18) on the flattened 7x7x3 volume", "147", "18", count_params(dp)]],
             note="The fundamentals' '7x7x3 input ... zero padding 1 -> 3x3x2' counts the padding "
                  "inside the 7x7x3: padding a 7x7x3 input once more gives 4x4x2.")
    ex.metrics["conv_7x7x3"] = {"output_shape": cout, "output_shape_7x7x3_padding_1": cout_7p1,
                                "params": count_params(cp), "dense_params": count_params(dp)}
    few = count_params(cp) == 56 and count_params(dp) > 10 * 56
    ex.verdict_cases("Two 3x3x3 filters, stride 2, on the 7x7x3 padded volume give 3x3x2 with "
                     "(3*3*3 + 1)*2 = 56 parameters, far fewer than a dense layer",
                     {"already padded (a 5x5x3 image + padding 1)":
                      few and tuple(cout) == tuple(cout_7p0) == (3, 3, 2),
                      "padded once more (7x7x3 + padding 1)": few and tuple(cout_7p1) == (3, 3, 2)},
                     f"conv {count_params(cp)} vs dense {count_params(dp)} parameters "
                     f"({count_params(dp) / 56:.0f}x); output {'x'.join(map(str, cout_7p0))} when "
                     f"the 7x7x3 includes the padding, {'x'.join(map(str, cout_7p1))} when it is "
                     "padded again", subject="the 7x7x3 volume")

    # Weight sharing: the same two 3x3x3 filters on any input size; a dense layer to the same
    # output grows with the input.
    sizes = ex.pick((5, 7, 28, 64), (5, 28))
    counts = []
    for w_ in sizes:
        p_, _, out = Conv2D(2, 3, strides=2, padding=1).init(key, (w_, w_, 3))
        d_, _, _ = Dense(int(np.prod(out))).init(key, (w_ * w_ * 3,))
        counts.append([f"{w_}x{w_}x3", "x".join(map(str, out)), count_params(p_), count_params(d_)])
    ex.table("Parameters of Conv2D(2, 3, strides=2, padding=1) and of a dense layer with the same "
             "output, by input size", ["input", "output", "conv parameters", "dense parameters"],
             counts)
    conv_counts, dense_counts = [c[2] for c in counts], [c[3] for c in counts]
    ex.verdict("A convolution layer's parameter count does not depend on the size of its input "
               "(000 3.2.3)", len(set(conv_counts)) == 1 and np.all(np.diff(dense_counts) > 0),
               f"conv {conv_counts} vs dense {dense_counts} for inputs "
               f"{', '.join(c[0] for c in counts)}")

    # The printed LRN formula, summed by hand in float64, against the layer (float32): k = 2,
    # n = 5 (2 channels each side), alpha = 1e-4, beta = 0.75; activations up to 60 so that the
    # sum matters (alpha * sum ~ 1).
    a = np.abs(np.asarray(jax.random.normal(jax.random.key(3), (2, 3, 3, 7)))) * 30.0
    k_, n_, alpha, beta = 2.0, 5, 1e-4, 0.75
    n_ch = a.shape[-1]
    b_ref = np.empty_like(a, dtype=np.float64)
    for i in range(n_ch):
        lo, hi = max(0, i - n_ // 2), min(n_ch - 1, i + n_ // 2)
        b_ref[..., i] = a[..., i] / (k_ + alpha * (a[..., lo:hi + 1].astype(np.float64) ** 2)
                                     .sum(-1)) ** beta
    b_lrn, _ = LocalResponseNorm(n_ // 2, k_, alpha, beta).apply({}, {},
                                                                 jnp.asarray(a, jnp.float32))
    lrn_err = float(np.max(np.abs(np.asarray(b_lrn, np.float64) - b_ref) / np.abs(b_ref)))
    shrink = float(np.mean(b_ref / a))
    ex.metrics["lrn"] = {"max_rel_error": lrn_err, "mean_output_over_input": shrink}
    ex.verdict("The printed LRN formula (k = 2, n = 5, alpha = 1e-4, beta = 0.75, summed over the "
               "n neighbouring channels) is what the LocalResponseNorm layer computes (000 3.6.7)",
               lrn_err < 1e-5, f"max relative error {lrn_err:.1e} vs a float64 sum written from "
               f"the formula on {a.shape} activations in [0, {a.max():.0f}] (b/a = {shrink:.3f} "
               "on average)")

    # Pooling: per channel, depth unchanged.
    fmap = jnp.asarray(np.arange(32, dtype=np.float32).reshape(1, 4, 4, 2) % 7)
    mx, _ = MaxPool2D(2).apply({}, {}, fmap)
    av, _ = AvgPool2D(2).apply({}, {}, fmap)
    ref_max = np.asarray(fmap).reshape(1, 2, 2, 2, 2, 2).max(axis=(2, 4))
    ref_avg = np.asarray(fmap).reshape(1, 2, 2, 2, 2, 2).mean(axis=(2, 4))
    ex.metrics["pooling"] = {"input_shape": fmap.shape, "max_shape": mx.shape,
                             "avg_shape": av.shape}
    ex.verdict("2x2 pooling halves height and width and keeps the depth, per channel: max "
               "pooling keeps each window's maximum, average pooling its mean (000 3.2.4)",
               mx.shape == (1, 2, 2, 2) and np.allclose(mx, ref_max) and np.allclose(av, ref_avg),
               f"{tuple(fmap.shape)} -> max {tuple(mx.shape)}, avg {tuple(av.shape)}; equal to "
               "block max/mean")

    fig, axes = plot.figure(5, width=3.0, height=3.0)
    panels = [(image, "5x5 image"), (kernel, "3x3 filter"), (maps[1], "feature map, stride 1"),
              (maps[2], "feature map, stride 2"),
              (np.asarray(mx)[0, :, :, 0], "2x2 max pool of a 4x4 map")]
    for i, (ax, (a, title)) in enumerate(zip(axes[0], panels)):
        ax.imshow(a, cmap="Blues", vmin=a.min(), vmax=a.max() + (a.max() - a.min()) * 0.6)
        for (r, c), v in np.ndenumerate(a):
            ax.text(c, r, f"{v:g}", ha="center", va="center", fontsize=10)
        ax.set_title(title, fontsize=9)
        ax.set_xticks(range(a.shape[1]))
        ax.set_yticks(range(a.shape[0]))
        ax.set_xlabel("column j")
        if i == 0:
            ax.set_ylabel("row i")
    ex.figure(fig, "feature_maps.png", "The worked convolution example and a pooling step")
    return ex.finish()


if __name__ == "__main__":
    run(main)
