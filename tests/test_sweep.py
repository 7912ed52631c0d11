"""`jaxdl.sweep`: vmap_fit equals separate fits; grid/random search choose on val, test the
winner."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import optim
from jaxdl.activations import Relu
from jaxdl.core import serial
from jaxdl.data import digits
from jaxdl.initializers import normal
from jaxdl.losses import softmax_cross_entropy
from jaxdl.nn.dense import Dense
from jaxdl.nn.dropout import Dropout
from jaxdl.nn.reshape import Flatten
from jaxdl.sweep import grid_search, log_uniform, random_search, vmap_fit, vmap_trainer
from jaxdl.train import fit

(X, Y), (X_TEST, Y_TEST) = digits()
TRAIN, VAL = (X[:256], Y[:256]), (X[1000:1200], Y[1000:1200])


def make_model(scale, rate):
    return serial(Flatten(), Dense(32, w_init=normal(scale)), Relu(), Dropout(rate), Dense(10))


def make_optimizer(lr):
    return optim.adam(lr)


def test_vmap_fit_equals_separate_fits_over_seeds_rates_init_scale_and_dropout():
    keys = jax.random.split(jax.random.key(0), 2)
    hp = {"lr": jnp.array([3e-3, 3e-2], jnp.float32)}
    mhp = {"scale": jnp.array([0.05, 0.2], jnp.float32), "rate": jnp.array([0.0, 0.3], jnp.float32)}
    ts, history = vmap_fit(make_model, softmax_cross_entropy, make_optimizer, TRAIN, hparams=hp,
                           keys=keys, val=VAL, epochs=2, batch_size=32, model_hparams=mhp)
    assert history.train_loss.shape == (2, 2) and history.val_accuracy.shape == (2, 2)
    assert ts.params["1_dense"]["w"].shape == (2, 64, 32)
    for k in range(2):
        model = make_model(mhp["scale"][k], mhp["rate"][k])
        one, h1 = fit(model, softmax_cross_entropy, make_optimizer(hp["lr"][k]), TRAIN, val=VAL,
                      epochs=2, batch_size=32, key=keys[k], verbose=0)
        for a, b in zip(jax.tree.leaves(ts.params), jax.tree.leaves(one.params)):
            np.testing.assert_allclose(a[k], b, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(history.train_loss[k], h1.train_loss, rtol=1e-5)
        np.testing.assert_allclose(history.val_loss[k], h1.val_loss, rtol=1e-5)
    assert not np.allclose(ts.params["1_dense"]["w"][0], ts.params["1_dense"]["w"][1])


def test_vmap_fit_sweeps_penalty_strength_equal_to_separate_fits_with_that_penalty():
    from jaxdl.losses import l2_penalty

    keys = jnp.stack([jax.random.key(1)] * 2)
    lams = jnp.array([0.0, 5.0], jnp.float32)
    model = make_model(0.1, 0.0)
    ts, _ = vmap_fit(model, softmax_cross_entropy, make_optimizer, TRAIN, keys=keys, epochs=1,
                     batch_size=32, hparams={"lr": jnp.array([1e-2, 1e-2])},
                     penalty=lambda p, lam: l2_penalty(p, lam, 256),
                     penalty_hparams={"lam": lams})
    for k in range(2):
        one, _ = fit(model, softmax_cross_entropy, make_optimizer(1e-2), TRAIN, epochs=1,
                     batch_size=32, key=keys[k], verbose=0,
                     penalty=lambda p, lam=lams[k]: l2_penalty(p, lam, 256))
        for a, b in zip(jax.tree.leaves(ts.params), jax.tree.leaves(one.params)):
            np.testing.assert_allclose(a[k], b, rtol=1e-5, atol=1e-6)
    w = ts.params["1_dense"]["w"]
    assert float(jnp.sum(w[1] ** 2)) < float(jnp.sum(w[0] ** 2))  # L2 shrank the weights


def test_vmap_fit_names_the_hyperparameter_whose_length_differs():
    with pytest.raises(ValueError, match=r"same length K.*keys=3.*lr=2"):
        vmap_fit(make_model(0.1, 0.0), softmax_cross_entropy, make_optimizer, TRAIN,
                 hparams={"lr": jnp.array([1e-3, 1e-2])},
                 keys=jax.random.split(jax.random.key(0), 3),
                 epochs=1, batch_size=32)
    with pytest.raises(ValueError, match=r"same length K.*lr=2.*b1=3"):
        vmap_fit(make_model(0.1, 0.0), softmax_cross_entropy, make_optimizer, TRAIN,
                 hparams={"lr": jnp.array([1e-3, 1e-2]), "b1": jnp.array([0.9, 0.8, 0.7])},
                 keys=jax.random.key(0), epochs=1, batch_size=32)


def _fake_train_fn(val_scores):
    tested = []

    def train_fn(candidates):
        assert all(len(v) == len(val_scores) for v in candidates.values())

        def test_score(i):
            tested.append(i)
            return 100.0 + i

        return np.asarray(val_scores), test_score

    return train_fn, tested


def test_grid_search_chooses_on_val_and_tests_only_the_winner():
    space = {"lr": [1e-3, 1e-2, 1e-1], "decay": [0.0, 0.5]}
    # candidates in product order: (1e-3, 0), (1e-3, .5), (1e-2, 0), (1e-2, .5), (1e-1, 0), ...
    train_fn, tested = _fake_train_fn([0.1, 0.2, 0.9, 0.3, np.nan, 0.4])
    result = grid_search(space, train_fn)
    assert result.best == {"lr": 1e-2, "decay": 0.0} and result.best_index == 2
    assert tested == [2] and result.test_score == 102.0
    np.testing.assert_array_equal(result.candidates["decay"], [0.0, 0.5] * 3)
    train_fn, tested = _fake_train_fn([0.1, 0.2, 0.9, 0.05, 0.3, 0.4])
    assert grid_search(space, train_fn, mode="min").best_index == 3 and tested == [3]


def test_random_search_samples_the_space_and_chooses_on_val(key):
    space = {"lr": log_uniform(1e-4, 1e-1), "width": [16, 32, 64]}
    train_fn, tested = _fake_train_fn([0.5, 0.7, 0.6, 0.1, 0.2])
    result = random_search(space, 5, key, train_fn)
    lr = result.candidates["lr"]
    assert lr.shape == (5,) and np.all((lr >= 1e-4) & (lr < 1e-1))
    assert set(result.candidates["width"]) <= {16, 32, 64}
    assert result.best_index == 1 and tested == [1] and result.best["lr"] == lr[1]
    again = random_search(space, 5, key, _fake_train_fn([0.5, 0.7, 0.6, 0.1, 0.2])[0])
    np.testing.assert_array_equal(again.candidates["lr"], lr)


def test_grid_search_with_vmap_trainer_reports_the_test_accuracy_of_the_val_winner():
    model = make_model(0.1, 0.0)
    train_fn = vmap_trainer(model, softmax_cross_entropy, make_optimizer, TRAIN, VAL,
                            (X_TEST, Y_TEST), epochs=2, batch_size=32, key=jax.random.key(0))
    result = grid_search({"lr": [1e-5, 3e-2]}, train_fn)
    assert result.best_index == int(np.argmax(result.val_scores)) == 1
    assert result.val_scores[1] > 0.6 > result.val_scores[0]
    assert result.test_score > 0.6
