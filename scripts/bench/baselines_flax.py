"""Flax linen baselines of the speed benchmark: ``nn.RNN`` over the library's
``OptimizedLSTMCell``/``GRUCell``/``SimpleCell`` with one jitted Adam update."""

from __future__ import annotations


def flax_setup(cell: str, B: int, T: int, H: int, D: int):
    """A Flax linen RNN over the library cell and one jitted Adam update, as a Flax user
    writes them once and reuses for every model of the same shapes; returns
    ``make_step(seed) -> step()``."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    import optax

    cells = {"lstm": nn.OptimizedLSTMCell, "gru": nn.GRUCell, "rnn": nn.SimpleCell}

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            h = nn.RNN(cells[cell](features=H))(x)
            return nn.Dense(1)(h[:, -1])

    net, opt = Net(), optax.adam(1e-3)

    @jax.jit
    def update(params, opt_state, x, y):
        loss, grads = jax.value_and_grad(lambda p: jnp.mean((net.apply(p, x) - y) ** 2))(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    def make_step(seed: int = 0):
        key = jax.random.key(seed)
        x, y = jax.random.uniform(key, (B, T, D)), jax.random.uniform(key, (B, 1))
        params = net.init(key, x)
        box = {"p": params, "o": opt.init(params)}

        def step():
            box["p"], box["o"], loss = update(box["p"], box["o"], x, y)
            jax.block_until_ready(loss)

        return step

    return make_step


def flax_step_fn(cell: str, B: int, T: int, H: int, D: int, seed: int = 0):
    return flax_setup(cell, B, T, H, D)(seed)
