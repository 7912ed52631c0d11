"""`jaxdl.metrics` vs scikit-learn (macro precision / recall / F1 with zero_division=0, the
confusion matrix, top-k accuracy, MAE), the batch-combining protocol and
`plot.confusion_matrix`."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn import metrics as skm

from jaxdl import metrics, plot


def _case(seed, n, classes, *, absent=(), never=()):
    """Random scores and labels; classes in `absent` never occur in the targets, classes in
    `never` are never predicted."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(n, classes)).astype(np.float32)
    scores[:, list(never)] -= 100.0
    allowed = [c for c in range(classes) if c not in absent]
    return scores, rng.choice(allowed, size=n).astype(np.int32)


CASES = {
    "all_present": dict(seed=0, n=64, classes=4),
    "class_never_predicted": dict(seed=1, n=40, classes=5, never=(2,)),
    "class_absent_from_targets": dict(seed=2, n=40, classes=5, absent=(3,)),
    "class_in_neither": dict(seed=3, n=30, classes=6, absent=(1, 4), never=(4, 5)),
    "two_examples": dict(seed=4, n=2, classes=3),
}
SKLEARN = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}


def _all(scores, labels):
    return {"precision": metrics.precision(scores, labels),
            "recall": metrics.recall(scores, labels), "f1": metrics.f1(scores, labels),
            "cm": metrics.confusion_matrix(scores, labels)}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_macro_metrics_and_confusion_matrix_equal_sklearn(case):
    """Macro averages with zero_division=0; rows true, columns predicted."""
    scores, labels = _case(**case)
    pred, c = scores.argmax(1), case["classes"]
    if case.get("never"):
        assert not np.isin(pred, case["never"]).any()
    got = jax.jit(_all)(scores, labels)
    for name, reference in SKLEARN.items():
        ref = reference(labels, pred, average="macro", zero_division=0)
        np.testing.assert_allclose(got[name], ref, rtol=1e-6, atol=1e-7, err_msg=name)
    assert got["cm"].dtype == jnp.int32
    np.testing.assert_array_equal(got["cm"], skm.confusion_matrix(labels, pred, labels=range(c)))


def test_one_hot_targets_and_predicted_classes_give_the_same_results():
    scores, labels = _case(9, 24, 4, never=(1,))
    ref = jax.jit(_all)(scores, labels)
    one_hot = jax.jit(_all)(scores, np.eye(4, dtype=np.float32)[labels])
    for name in ref:
        np.testing.assert_array_equal(one_hot[name], ref[name], err_msg=name)
    from_classes = jax.jit(metrics.confusion_matrix, static_argnames="num_classes")(
        scores.argmax(1).astype(np.int32), labels, num_classes=4)
    np.testing.assert_array_equal(from_classes, ref["cm"])


def test_summed_counts_of_batches_give_the_whole_set_metric():
    scores, labels = _case(5, 90, 5, never=(0,))
    counts = jax.jit(metrics.f1.counts)
    parts = [counts(scores[i:i + 30], labels[i:i + 30]) for i in range(0, 90, 30)]
    total = functools.reduce(jnp.add, parts)
    assert total.shape == (3, 5) and total.dtype == jnp.int32
    np.testing.assert_array_equal(total, counts(scores, labels))
    combined = jax.jit(lambda c: {n: getattr(metrics, n).from_counts(c) for n in SKLEARN})(total)
    whole = jax.jit(_all)(scores, labels)
    batches = [jax.jit(_all)(scores[i:i + 30], labels[i:i + 30]) for i in range(0, 90, 30)]
    for name, reference in SKLEARN.items():
        ref = reference(labels, scores.argmax(1), average="macro", zero_division=0)
        np.testing.assert_allclose(combined[name], ref, rtol=1e-6, err_msg=name)
        assert float(combined[name]) == float(whole[name])  # metric == from_counts(counts)
        # the mean over batches is not the whole-set value: the counts are needed
        assert abs(np.mean([b[name] for b in batches]) - ref) > 1e-4, name


def test_counts_are_true_positives_predicted_and_actual_per_class():
    scores = np.eye(3, dtype=np.float32)[[0, 0, 1, 2, 2]]  # predicted 0, 0, 1, 2, 2
    labels = np.array([0, 1, 1, 2, 0], np.int32)
    np.testing.assert_array_equal(jax.jit(metrics.f1.counts)(scores, labels),
                                  [[1, 1, 1], [2, 1, 2], [2, 2, 1]])
    assert metrics.is_count_metric(metrics.recall)
    assert not metrics.is_count_metric(metrics.accuracy)
    assert not metrics.is_count_metric(metrics.top_k_accuracy(2))


def test_metrics_are_equal_by_value_and_work_as_static_jit_arguments():
    assert metrics.top_k_accuracy(3) == metrics.top_k_accuracy(3)
    assert hash(metrics.top_k_accuracy(3)) == hash(metrics.top_k_accuracy(3))
    assert metrics.top_k_accuracy(3) != metrics.top_k_accuracy(2)
    assert metrics.precision != metrics.recall
    assert metrics.top_k_accuracy(3).__name__ == "top_3_accuracy"
    assert metrics.mean_absolute_error.__name__ == "mean_absolute_error"
    assert metrics.accuracy.__name__ == "accuracy"

    @functools.partial(jax.jit, static_argnums=0)
    def run(metric, scores, labels):
        return metric(scores, labels)

    scores, labels = _case(6, 20, 4)
    for metric in (metrics.precision, metrics.recall, metrics.f1, metrics.top_k_accuracy(2)):
        run(metric, scores, labels)
    size = run._cache_size()
    run(metrics.top_k_accuracy(2), scores, labels)  # a new but equal metric: no new program
    assert run._cache_size() == size


@pytest.mark.parametrize("k", [1, 2, 4])
def test_top_k_accuracy_equals_sklearn(k):
    scores, labels = _case(7, 50, 5)
    ref = skm.top_k_accuracy_score(labels, scores, k=k, labels=range(5))
    np.testing.assert_allclose(jax.jit(metrics.top_k_accuracy(k))(scores, labels), ref,
                               rtol=1e-6)


def test_top_k_accuracy_breaks_ties_toward_the_lower_class_like_argmax():
    scores = np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 2.0], [5.0, 5.0, 5.0]], np.float32)
    labels = np.array([1, 1, 2], np.int32)
    # hand-worked: argmax picks 0, 1, 0; the ranks of the targets are 1, 0, 2
    got = jax.jit(lambda s, t: [metrics.top_k_accuracy(k)(s, t) for k in (1, 2, 3)])(scores,
                                                                                   labels)
    np.testing.assert_allclose(got, [1 / 3, 2 / 3, 1.0], rtol=1e-6)


def test_mean_absolute_error_equals_sklearn_and_float64_numpy():
    rng = np.random.default_rng(8)
    a, y = rng.normal(size=(12, 3)), rng.normal(size=(12, 3))
    got = jax.jit(metrics.mean_absolute_error)(a.astype(np.float32), y.astype(np.float32))
    np.testing.assert_allclose(got, skm.mean_absolute_error(y, a), rtol=1e-6)
    a3, y3 = rng.normal(size=(4, 2, 3)), rng.normal(size=(4, 2, 3))
    np.testing.assert_allclose(metrics.mean_absolute_error(a3.astype(np.float32),
                                                           y3.astype(np.float32)),
                               np.mean(np.abs(a3 - y3)), rtol=1e-6)


def test_confusion_matrix_of_a_worked_example():
    cm = jax.jit(metrics.confusion_matrix, static_argnums=2)(
        np.array([0, 0, 1, 2, 2], np.int32), np.array([0, 1, 1, 2, 0], np.int32), 3)
    np.testing.assert_array_equal(cm, [[1, 0, 1], [1, 1, 0], [0, 0, 1]])


@pytest.mark.parametrize("call, error, words", [
    (lambda: metrics.top_k_accuracy(0), ValueError, ["top_k_accuracy", "k", "0"]),
    (lambda: metrics.top_k_accuracy(2.0), TypeError, ["top_k_accuracy", "k", "2.0"]),
    (lambda: metrics.top_k_accuracy(4)(np.zeros((2, 3), np.float32), np.zeros(2, np.int32)),
     ValueError, ["top_4_accuracy", "k", "3", "k=4"]),
    (lambda: metrics.precision(np.zeros((2, 3), np.float32), np.zeros(2, np.float32)),
     TypeError, ["precision", "targets", "float32"]),
    (lambda: metrics.f1(np.zeros((2, 3), np.float32), np.zeros(4, np.int32)),
     ValueError, ["f1", "targets", "(2,)", "(4,)"]),
    (lambda: metrics.recall(np.zeros((2, 3), np.float32), np.array([0, 3], np.int32)),
     ValueError, ["recall", "targets", "[0, 3)", "[0, 3]"]),
    (lambda: metrics.recall(np.zeros(3, np.float32), np.zeros((), np.int32)),
     ValueError, ["recall", "outputs", "(3,)"]),
    (lambda: metrics.top_k_accuracy(1)(np.zeros((2, 3), np.float32), np.zeros(2, np.float32)),
     TypeError, ["top_1_accuracy", "targets", "float32"]),
    (lambda: metrics.mean_absolute_error(np.zeros((2, 3)), np.zeros((2, 1))),
     ValueError, ["mean_absolute_error", "targets", "(2, 3)", "(2, 1)"]),
    (lambda: metrics.mean_absolute_error(np.zeros((0, 3)), np.zeros((0, 3))),
     ValueError, ["mean_absolute_error", "empty"]),
    (lambda: metrics.confusion_matrix(np.zeros(2, np.int32), np.zeros(2, np.int32)),
     ValueError, ["confusion_matrix", "num_classes", "None"]),
    (lambda: metrics.confusion_matrix(np.zeros((2, 3), np.float32), np.zeros(2, np.int32), 4),
     ValueError, ["confusion_matrix", "num_classes", "3", "4"]),
    (lambda: metrics.confusion_matrix(np.array([0, 5], np.int32), np.zeros(2, np.int32), 3),
     ValueError, ["confusion_matrix", "outputs", "[0, 3)", "[0, 5]"]),
    (lambda: metrics.precision.from_counts(np.zeros((2, 3), np.int32)),
     ValueError, ["precision.from_counts", "counts", "(2, 3)"]),
], ids=["k_0", "k_float", "k_above_classes", "float_targets", "targets_shape", "label_range",
        "no_class_axis", "top_k_float_targets", "mae_shape", "mae_empty", "cm_no_num_classes",
        "cm_num_classes_mismatch", "cm_prediction_range", "from_counts_shape"])
def test_bad_inputs_name_the_metric_the_parameter_and_the_value(call, error, words):
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_plot_confusion_matrix_writes_a_png_and_normalises_rows(tmp_path):
    cm = np.array([[5, 1, 0], [2, 2, 0], [0, 0, 0]])
    fig, axes = plot.figure(2)
    counts = plot.confusion_matrix(axes[0, 0], cm, labels=["a", "b", "c"], title="counts")
    rows = plot.confusion_matrix(axes[0, 1], cm, normalize=True)
    np.testing.assert_array_equal(counts.get_array(), cm)
    np.testing.assert_allclose(rows.get_array(), [[5 / 6, 1 / 6, 0], [0.5, 0.5, 0], [0, 0, 0]])
    assert [t.get_text() for t in axes[0, 0].get_xticklabels()] == ["a", "b", "c"]
    assert "5" in [t.get_text() for t in axes[0, 0].texts]
    path = tmp_path / "cm.png"
    fig.savefig(path, bbox_inches="tight")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    with pytest.raises(ValueError, match=r"confusion_matrix: cm must be a square .* \(2, 3\)"):
        plot.confusion_matrix(axes[0, 0], np.zeros((2, 3)))
    with pytest.raises(ValueError, match="confusion_matrix: labels must name the 3 classes"):
        plot.confusion_matrix(axes[0, 0], cm, labels=["a"])


def test_fit_and_evaluate_combine_count_metrics_over_batches_exactly():
    from jaxdl import optim
    from jaxdl.core import serial
    from jaxdl.losses import softmax_cross_entropy
    from jaxdl.nn.dense import Dense
    from jaxdl.train import evaluate, fit, predict

    rng = np.random.default_rng(5)
    x = rng.normal(size=(150, 4)).astype(np.float32)
    y = ((x[:, 0] > 0).astype(np.int32) + (x[:, 1] > 0.8)).astype(np.int32)  # 3 classes
    model = serial(Dense(3))
    chosen = (metrics.precision, metrics.recall, metrics.f1, metrics.top_k_accuracy(2))
    ts, history = fit(model, softmax_cross_entropy, optim.sgd(0.3), (x[:100], y[:100]),
                      val=(x[100:], y[100:]), epochs=3, batch_size=16, key=jax.random.key(0),
                      metrics=chosen, verbose=0)
    pred = np.asarray(predict(model, ts, x[100:])).argmax(-1)
    for name, fn in SKLEARN.items():
        want = fn(y[100:], pred, average="macro", zero_division=0)
        assert history.values[f"val_{name}"][-1] == pytest.approx(want, abs=1e-6), name
    # 150 examples in batches of 32: four full batches and a tail of 22, combined by counts
    got = evaluate(model, ts, (x, y), chosen, batch_size=32)
    pred = np.asarray(predict(model, ts, x)).argmax(-1)
    for name, fn in SKLEARN.items():
        want = fn(y, pred, average="macro", zero_division=0)
        assert got[name] == pytest.approx(want, abs=1e-6), name
    scores = np.asarray(predict(model, ts, x))
    assert got["top_2_accuracy"] == pytest.approx(
        skm.top_k_accuracy_score(y, scores, k=2, labels=[0, 1, 2]), abs=1e-6)
