"""`jaxdl.summary.summary`: rows, shapes and parameter counts against closed forms and real
`init`s, nesting, state, abstract evaluation and bad inputs."""

import re

import jax
import jax.numpy as jnp
import pytest

from jaxdl.core import Layer, count_params
from jaxdl.nn import (BatchNorm, Conv2D, Dense, Flatten, MaxPool2D, Relu, Tanh, parallel,
                      residual, serial)
from jaxdl.summary import summary


def _rows(text):
    """{path: (indent, type, output shape, params, state)} of the table's layer rows."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("Layer (path)")) + 2
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("==="))
    rows = {}
    for ln in lines[start:end]:
        cells = re.split(r"\s{2,}", ln.strip())
        indent = len(ln) - len(ln.lstrip())
        rows[cells[0]] = (indent, cells[1], cells[2], int(cells[3].replace(",", "")), cells[4])
    return rows


def _total(text, what):
    return int(re.search(rf"^{what}: ([\d,]+)", text, re.M).group(1).replace(",", ""))


def test_digits_cnn_rows_match_the_closed_form_counts_and_a_real_init(key):
    model = serial(Conv2D(8, 3), Relu(), MaxPool2D(2), Flatten(), Dense(10))
    printed = []
    text = summary(model, (8, 8, 1), print_fn=printed.append)
    assert printed == [text]
    rows = _rows(text)
    assert list(rows) == ["0_conv2d", "1_relu", "2_maxpool", "3_flatten", "4_dense"]
    conv, dense = 3 * 3 * 1 * 8 + 8, (3 * 3 * 8) * 10 + 10  # k*k*cin*cout + cout, in*out + out
    assert [r[3] for r in rows.values()] == [conv, 0, 0, 0, dense]
    assert [r[2] for r in rows.values()] == [
        "(None, 6, 6, 8)", "(None, 6, 6, 8)", "(None, 3, 3, 8)", "(None, 72)", "(None, 10)"]
    assert rows["0_conv2d"][1] == "Conv2D(features=8, kernel_size=3)"
    assert all(r[4] == "-" and r[0] == 0 for r in rows.values())
    params, _, _ = model.init(key, (8, 8, 1))
    assert _total(text, "Total params") == _total(text, "Trainable params") == count_params(
        params) == conv + dense
    assert f"Total params: 810 ({810 * 4 / 1024:.1f} KiB)" in text
    assert "State (not trained): 0 (0 B)" in text
    assert text.splitlines()[0] == "Model: serial, input (None, 8, 8, 1) -> output (None, 10)"


def test_mlp_total_is_the_closed_form():
    sizes = (64, 32, 16, 10)
    model = serial(Flatten(), Dense(32), Relu(), Dense(16), Tanh(), Dense(10))
    text = summary(model, (8, 8), print_fn=None)
    expected = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    assert _total(text, "Total params") == expected
    assert _rows(text)["3_dense"][3] == 32 * 16 + 16


def test_nested_rows_are_indented_and_carry_their_subtree_totals(key):
    block = serial(Conv2D(4, 3, padding="SAME"), BatchNorm(), Relu())
    model = serial(Conv2D(4, 3, padding="SAME"), BatchNorm(), residual(block),
                   parallel(Dense(3), serial(Dense(2), Tanh()), concat_axis=-1),
                   Flatten(), Dense(5))
    text = summary(model, (6, 6, 2), print_fn=None)
    rows = _rows(text)
    assert list(rows) == [
        "0_conv2d", "1_batch_norm", "2_residual", "2_residual/0_serial",
        "2_residual/0_serial/0_conv2d", "2_residual/0_serial/1_batch_norm",
        "2_residual/0_serial/2_relu", "3_parallel", "3_parallel/0_dense", "3_parallel/1_serial",
        "3_parallel/1_serial/0_dense", "3_parallel/1_serial/1_tanh", "4_flatten", "5_dense"]
    for path, row in rows.items():
        assert row[0] == 2 * path.count("/"), path
    inner_conv, bn = 3 * 3 * 4 * 4 + 4, 2 * 4
    assert rows["2_residual/0_serial/0_conv2d"][3] == inner_conv
    assert rows["2_residual"][3] == rows["2_residual/0_serial"][3] == inner_conv + bn
    assert rows["3_parallel"][3] == (4 * 3 + 3) + (4 * 2 + 2)
    assert rows["3_parallel"][1] == "parallel(concat_axis=-1)"
    assert rows["3_parallel"][2] == "(None, 6, 6, 5)"
    assert rows["3_parallel/1_serial/0_dense"][2] == "(None, 6, 6, 2)"
    # batch-norm state: its count and shapes on the layer's row, the count on its ancestors'
    assert rows["1_batch_norm"][4] == "8: mean (4,), var (4,)"
    assert rows["2_residual/0_serial/1_batch_norm"][4] == "8: mean (4,), var (4,)"
    assert rows["2_residual"][4] == "8" and rows["3_parallel"][4] == "-"
    params, state, _ = model.init(key, (6, 6, 2))
    assert _total(text, "Total params") == count_params(params)
    assert _total(text, "State \\(not trained\\)") == count_params(state) == 16
    assert "State (not trained): 16 (64 B)" in text


def test_parallel_without_concat_shows_every_output_and_a_bare_layer_is_one_row():
    text = summary(parallel(Dense(3), Dense(2)), (4,), print_fn=None)
    assert "output [(None, 3), (None, 2)]" in text.splitlines()[0]
    text = summary(Dense(3), (4,), print_fn=None)
    assert _rows(text) == {"dense": (0, "Dense(features=3)", "(None, 3)", 15, "-")}


def test_a_layer_without_spec_is_one_leaf_row():
    inner = serial(Dense(3), Relu())
    custom = Layer(inner.init, inner.apply, "custom")  # hand-written: no spec
    rows = _rows(summary(serial(custom, Dense(1)), (2,), print_fn=None))
    assert list(rows) == ["0_custom", "1_dense"]
    assert rows["0_custom"][1:4] == ("Layer(name='custom')", "(None, 3)", 2 * 3 + 3)


def test_shapes_are_abstract_so_a_huge_model_allocates_nothing():
    text = summary(serial(Dense(100_000), Dense(100_000)), (100_000,), print_fn=None)
    assert _total(text, "Total params") == 2 * (100_000 ** 2 + 100_000)  # 80 GB if allocated


def test_print_fn_none_prints_nothing(capsys):
    text = summary(Dense(2), (3,), print_fn=None)
    assert capsys.readouterr().out == ""
    summary(Dense(2), (3,))
    assert capsys.readouterr().out == text + "\n"


def test_a_model_that_does_not_fit_the_input_raises_what_init_raises(key):
    model = serial(Flatten(), Conv2D(2, 3))
    with pytest.raises(ValueError) as real:
        model.init(key, (4, 4, 1))
    with pytest.raises(ValueError) as summarised:
        summary(model, (4, 4, 1), print_fn=None)
    assert str(summarised.value) == str(real.value)


@pytest.mark.parametrize("model, shape, error, words", [
    (Dense, (3,), TypeError, ["summary", "model", "Layer", "Did you forget"]),
    ("dense", (3,), TypeError, ["summary", "model", "'dense'"]),
    (Dense(2), 8, TypeError, ["summary", "input_shape", "8", "(8,)"]),
    (Dense(2), (8.0, 1), TypeError, ["summary", "input_shape", "(8.0, 1)"]),
    (Dense(2), jnp.ones(3), TypeError, ["summary", "input_shape"]),
    (Dense(2), (0, 3), ValueError, ["summary", "input_shape", "(0, 3)"]),
], ids=["uncalled_constructor", "string_model", "int_shape", "float_size", "array_shape",
        "zero_size"])
def test_bad_inputs_name_summary_and_the_parameter(model, shape, error, words):
    with pytest.raises(error) as info:
        summary(model, shape, print_fn=None)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_print_fn_must_be_callable():
    with pytest.raises(TypeError, match="summary: print_fn must be callable or None, got 1"):
        summary(Dense(2), (3,), print_fn=1)


def test_a_given_key_is_accepted_and_only_traced(key):
    text = summary(Dense(2), (3,), key=jax.random.fold_in(key, 7), print_fn=None)
    assert text == summary(Dense(2), (3,), print_fn=None)
