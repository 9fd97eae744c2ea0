"""The benchmark's own arithmetic (the timings themselves are never asserted)."""

import jax
import jax.numpy as jnp

from scripts.bench import speed


def test_lstm_flops_counts_the_matmuls_of_forward_and_backward():
    B, T, H, D = 3, 5, 7, 2
    forward = T * 2 * B * (D + H) * 4 * H  # x @ W and h @ R per step
    assert speed.lstm_flops(B, T, H, D) == 3 * forward
    # the forward count agrees with XLA's own cost analysis of x @ W + h @ R at one step
    x, h = jnp.ones((B, D)), jnp.ones((B, H))
    W, R = jnp.ones((D, 4 * H)), jnp.ones((H, 4 * H))
    cost = jax.jit(lambda x, h, W, R: x @ W + h @ R).lower(x, h, W, R).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    assert cost["flops"] == forward / T + B * 4 * H  # XLA also counts the elementwise add


def test_median_time_runs_warmup_and_repeats():
    calls = []
    speed.median_time(lambda: calls.append(1), repeats=7, warmup=2)
    assert len(calls) == 9
