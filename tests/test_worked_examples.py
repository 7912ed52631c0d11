"""The fundamentals' worked examples, computed through jaxdl layers and compared with the printed
numbers (000 sections 3.1.1 and 3.2.5)."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.activations import Sigmoid
from jaxdl.core import serial
from jaxdl.losses import squared_error
from jaxdl.nn.dense import Dense, Perceptron, perceptron_epoch


def test_perceptron_weighted_vote_rejects_the_singer():
    # scores 4, 1, -3 with weights 1, 3, 2: 4 + 3 - 6 = 1, not above the threshold 3 -> 0
    params = {"w": jnp.array([[1.0], [3.0], [2.0]]), "b": jnp.array([-3.0])}
    y, _ = Perceptron(1).apply(params, {}, jnp.array([[4.0, 1.0, -3.0]]))
    assert float(y[0, 0]) == 0.0
    y, _ = Perceptron(1).apply(params, {}, jnp.array([[4.0, 2.0, -3.0]]))  # 4 + 6 - 6 = 4 > 3
    assert float(y[0, 0]) == 1.0


def test_perceptron_with_w_minus2_minus2_b3_is_a_nand_gate():
    params = {"w": jnp.array([[-2.0], [-2.0]]), "b": jnp.array([3.0])}
    x = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y, _ = jax.jit(lambda p, x: Perceptron(1).apply(p, {}, x))(params, x)
    np.testing.assert_array_equal(y[:, 0], [1.0, 1.0, 1.0, 0.0])


def test_perceptron_rule_separates_a_separable_set_and_matches_the_rule_by_hand():
    x = jnp.array([[1.0, 2.0], [2.0, 1.0], [-1.0, -2.0], [-2.0, -1.0]])
    t = jnp.array([[1.0], [1.0], [0.0], [0.0]])
    params = {"w": jnp.zeros((2, 1)), "b": jnp.zeros((1,))}
    new, mistakes = perceptron_epoch(params, x, t, lr=1.0)
    # by hand: example 0 is misclassified (0 > 0 is False, t = 1): w = (1, 2), b = 1; the rest
    # are then right: (2, 1) -> 5 > 0; (-1, -2) -> -4 -> 0; (-2, -1) -> -3 -> 0
    np.testing.assert_array_equal(new["w"][:, 0], [1.0, 2.0])
    np.testing.assert_array_equal(new["b"], [1.0])
    assert int(mistakes) == 1
    assert int(perceptron_epoch(new, x, t)[1]) == 0


def test_the_2_2_2_sigmoid_network_reproduces_the_printed_forward_pass(x64):
    w1, w2, w3, w4, w5, w6, w7, w8 = 0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55
    params = {"0_dense": {"w": jnp.array([[w1, w3], [w2, w4]]), "b": jnp.array([0.35, 0.35])},
              "1_sigmoid": {},
              "2_dense": {"w": jnp.array([[w5, w7], [w6, w8]]), "b": jnp.array([0.60, 0.60])},
              "3_sigmoid": {}}
    x = jnp.array([[0.05, 0.10]])
    hidden = serial(Dense(2), Sigmoid())
    net_h, _ = Dense(2).apply(params["0_dense"], {}, x)
    out_h, _ = hidden.apply({"0_dense": params["0_dense"], "1_sigmoid": {}},
                            {"0_dense": {}, "1_sigmoid": {}}, x)
    model = serial(Dense(2), Sigmoid(), Dense(2), Sigmoid())
    _, state, _ = model.init(jax.random.key(0), (2,))
    out_o, _ = model.apply(params, state, x)
    assert out_o.dtype == jnp.float64
    np.testing.assert_allclose(net_h[0, 0], 0.3775, atol=1e-12)
    np.testing.assert_allclose(out_h[0], [0.593269992, 0.596884378], atol=5e-10)
    np.testing.assert_allclose(out_o[0], [0.75136507, 0.772928465], atol=5e-9)
    e_total = squared_error(out_o, jnp.array([[0.01, 0.99]]), reduction="sum")
    np.testing.assert_allclose(e_total, 0.298371109, atol=5e-10)
