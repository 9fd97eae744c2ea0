"""Sequential digits: classify an image shown one pixel per step, plain or permuted.

Sequential MNIST (28 x 28 = 784 steps, row-major) and its permuted version are the
standard long-sequence classification benchmarks (Le et al. 2015; Arjovsky et al. 2016
report LSTM 98.2% plain, 88% permuted). MNIST cannot be downloaded on every machine, so
the default needs no download at all: scikit-learn's bundled 8 x 8 digits.

Variants:

- ``"sklearn8x8"`` (default): ``sklearn.datasets.load_digits``, 1,797 images of 8 x 8
  pixels with values 0..16, scaled to [0, 1] (divided by 16); 64 steps, row-major.
- ``"sklearn8x8_permuted"``: the same with the 64 pixel positions shuffled by one fixed
  permutation, ``numpy.random.default_rng(perm_seed).permutation(64)``: step t shows pixel
  ``perm[t]`` of the plain row-major sequence.
- ``"mnist"`` / ``"mnist_permuted"``: 784 steps, pixels (uint8) divided by 255, read from
  the local ``.npz`` file ``path`` holding ``x_train`` ``[N, 28, 28]`` or ``[N, 784]``
  (integers 0..255), ``y_train`` ``[N]`` (labels 0..9) and optionally ``x_test`` /
  ``y_test`` in the same format. Nothing is ever downloaded: a missing or malformed file
  raises a one-line ValueError naming the expected format, at construction. The
  permutation is ``default_rng(perm_seed).permutation(784)``.

Splits: the file's ``x_test``/``y_test`` when present (MNIST's standard 60k/10k);
otherwise (always for the sklearn digits) a fixed 80/20 split drawn once with
``numpy.random.default_rng(split_seed).permutation(N)``: the first ``N // 5`` indices are
the test split (359 of the 1,797 sklearn digits), the rest the training split.
``sample(key, batch_size)`` draws training images uniformly *with replacement* using
``jax.random``; ``eval_batch()`` returns the whole test split.

One input channel, 10 classes, softmax cross-entropy on the logits at the last step only
(the mask is a one-hot at the last step). A sequence is correct when the argmax there is
the label; the task counts as solved when the test accuracy reaches ``target_accuracy``
(default 0.9: a suite convention, not a published threshold). ``length`` is fixed by the
data and may only be ``None`` or that value.

The loaded arrays live in a module-level cache keyed by the data-defining fields (the
dataclass itself stays small and hashable); a file changed on disk after its first load
in a process is not re-read.
"""

from __future__ import annotations

import dataclasses
import functools
import zipfile
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from carousel_checks import check_choice, check_finite_fields, check_positive
from tasks.base import Batch, Task, masked_cross_entropy, per_sequence_all_argmax_correct

N_CLASSES = 10
_SEQ_LEN = {"sklearn8x8": 64, "mnist": 784}
_MNIST_FORMAT = (
    "a local .npz with x_train [N,28,28] or [N,784] uint8 and y_train [N] labels 0-9"
    " (optionally x_test, y_test alike); nothing is downloaded"
)


class _Split(NamedTuple):
    train_x: jax.Array  # [N_train, L] uint8, already permuted where the variant says so
    train_y: jax.Array  # [N_train] int32
    test_x: jax.Array
    test_y: jax.Array
    max_value: float  # pixels are divided by this: 16 (sklearn) or 255 (MNIST)


def _base(variant: str) -> str:
    return variant.removesuffix("_permuted")


@functools.cache
def pixel_permutation(length: int, perm_seed: int) -> np.ndarray:
    """The fixed pixel order of the permuted variants: step t shows pixel ``perm[t]``."""
    perm = np.random.default_rng(perm_seed).permutation(length)
    perm.setflags(write=False)
    return perm


def _mnist_error(path: str | None, reason: str) -> ValueError:
    return ValueError(f"digits mnist data: {reason} (path={path!r}); expected {_MNIST_FORMAT}")


def _check_images(x: np.ndarray, y: np.ndarray, which: str, path: str) -> np.ndarray:
    if x.ndim == 3 and x.shape[1:] == (28, 28):
        x = x.reshape(x.shape[0], 784)
    if x.ndim != 2 or x.shape[1] != 784:
        raise _mnist_error(path, f"x_{which} has shape {x.shape}")
    if not np.issubdtype(x.dtype, np.integer) or (x.size and (x.min() < 0 or x.max() > 255)):
        raise _mnist_error(path, f"x_{which} must hold integers 0..255, got dtype {x.dtype}")
    if y.ndim != 1 or y.shape[0] != x.shape[0] or not np.issubdtype(y.dtype, np.integer):
        raise _mnist_error(path, f"y_{which} has shape {y.shape} dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= N_CLASSES):
        raise _mnist_error(path, f"y_{which} labels must be 0..9")
    if x.shape[0] == 0:
        raise _mnist_error(path, f"x_{which} is empty")
    return x.astype(np.uint8)


def _read_mnist(path: str | None):
    if path is None:
        raise _mnist_error(path, "no path given")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise TypeError("not an .npz archive")
        with loaded as f:
            arrays = {k: np.asarray(f[k]) for k in f.files}
    except (OSError, ValueError, EOFError, TypeError, KeyError, zipfile.BadZipFile) as err:
        reason = f"cannot read it as .npz ({type(err).__name__})"
        raise _mnist_error(path, reason) from None
    if "x_train" not in arrays or "y_train" not in arrays:
        raise _mnist_error(path, f"arrays found: {sorted(arrays)}")
    x = _check_images(arrays["x_train"], arrays["y_train"], "train", path)
    y = arrays["y_train"].astype(np.int32)
    has_test = ("x_test" in arrays, "y_test" in arrays)
    if has_test == (True, True):
        test = (
            _check_images(arrays["x_test"], arrays["y_test"], "test", path),
            arrays["y_test"].astype(np.int32),
        )
    elif any(has_test):
        raise _mnist_error(path, "x_test and y_test must come together")
    else:
        test = None
    return x, y, test


def _read_sklearn():
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data.astype(np.uint8), d.target.astype(np.int32), None


@functools.lru_cache(maxsize=8)
def _load(variant: str, path: str | None, split_seed: int, perm_seed: int) -> _Split:
    base = _base(variant)
    if base == "mnist":
        x, y, test = _read_mnist(path)
        scale = 255.0
    else:
        x, y, test = _read_sklearn()
        scale = 16.0
    if test is None:
        order = np.random.default_rng(split_seed).permutation(x.shape[0])
        n_test = x.shape[0] // 5
        test = (x[order[:n_test]], y[order[:n_test]])
        x, y = x[order[n_test:]], y[order[n_test:]]
    tx, ty = test
    if variant.endswith("_permuted"):
        perm = pixel_permutation(_SEQ_LEN[base], perm_seed)
        x, tx = x[:, perm], tx[:, perm]
    # NumPy arrays, not JAX ones: a cache filled during a jit trace must not keep tracers.
    return _Split(x, y, tx, ty, scale)


def _to_batch(images: jax.Array, labels: jax.Array, max_value: float) -> Batch:
    n, t_len = images.shape
    x = (images.astype(jnp.float32) / max_value)[..., None]
    mask = jnp.zeros((n, t_len), jnp.float32).at[:, -1].set(1.0)
    y = jnp.zeros((n, t_len), jnp.int32).at[:, -1].set(labels.astype(jnp.int32))
    return Batch(x=x, y=y, mask=mask)


@dataclasses.dataclass(frozen=True)
class SequentialDigitsTask(Task):
    """Pixel-by-pixel digit classification (sklearn 8x8 digits or a local MNIST file)."""

    variant: str = "sklearn8x8"
    length: int | None = None
    path: str | None = None
    split_seed: int = 0
    perm_seed: int = 0
    target_accuracy: float = 0.9

    name: ClassVar[str] = "digits"
    VARIANTS: ClassVar[tuple[str, ...]] = (
        "sklearn8x8",
        "sklearn8x8_permuted",
        "mnist",
        "mnist_permuted",
    )
    target: ClassVar[str] = "classification"
    target_range: ClassVar[None] = None  # softmax cross-entropy on logits
    held_out: ClassVar[bool] = True  # evaluated on the test split, eval_batch()

    def __post_init__(self) -> None:
        check_choice("digits variant", self.variant, self.VARIANTS)
        check_finite_fields(self, "task")
        if self.length is not None:
            check_positive("task.length", self.length)
            if self.length != self.max_length:
                raise ValueError(
                    f"task.length is fixed by the data for digits/{self.variant}: must be None"
                    f" or {self.max_length}, got {self.length}"
                )
        if not 0.0 < self.target_accuracy <= 1.0:
            raise ValueError(f"task.target_accuracy must be in (0, 1], got {self.target_accuracy}")
        if _base(self.variant) == "mnist":
            self._data()  # fail now, with the one-line format message, if the file is bad
        elif self.path is not None:
            raise ValueError(f"task.path applies to the mnist variants only, not {self.variant}")

    def _data(self) -> _Split:
        return _load(self.variant, self.path, self.split_seed, self.perm_seed)

    @property
    def input_size(self) -> int:
        return 1

    @property
    def output_size(self) -> int:
        return N_CLASSES

    @property
    def max_length(self) -> int:
        return _SEQ_LEN[_base(self.variant)]

    @property
    def permutation(self) -> np.ndarray | None:
        """The fixed pixel order of a permuted variant (``None`` for the plain ones)."""
        if not self.variant.endswith("_permuted"):
            return None
        return pixel_permutation(self.max_length, self.perm_seed)

    @property
    def train_size(self) -> int:
        return int(self._data().train_x.shape[0])

    @property
    def eval_size(self) -> int:
        """The whole test split."""
        return int(self._data().test_x.shape[0])

    @property
    def baseline_loss(self) -> None:
        return None

    def sample(self, key: jax.Array, batch_size: int) -> Batch:
        """``batch_size`` training images drawn uniformly with replacement."""
        data = self._data()
        idx = jax.random.randint(key, (batch_size,), 0, data.train_x.shape[0])
        return _to_batch(jnp.asarray(data.train_x)[idx], jnp.asarray(data.train_y)[idx], data.max_value)

    def eval_batch(self) -> Batch:
        """The whole test split, in a fixed order."""
        data = self._data()
        return _to_batch(jnp.asarray(data.test_x), jnp.asarray(data.test_y), data.max_value)

    def loss(self, outputs: jax.Array, batch: Batch) -> jax.Array:
        """Softmax cross-entropy at the last step."""
        outputs = jnp.where(batch.mask[..., None] > 0, outputs, 0.0)
        return masked_cross_entropy(outputs, batch)

    def correct(self, outputs: jax.Array, batch: Batch) -> jax.Array:
        """True when the argmax at the last step is the label."""
        return per_sequence_all_argmax_correct(outputs, batch)

    def solved(self, eval_loss, correct_fraction) -> jax.Array:
        """Test accuracy at least ``target_accuracy``."""
        del eval_loss
        return jnp.asarray(correct_fraction) >= self.target_accuracy

    def describe(self) -> str:
        src = "sklearn load_digits 8x8" if _base(self.variant) == "sklearn8x8" else self.path
        perm = ""
        if self.permutation is not None:
            perm = f", pixels permuted (perm_seed={self.perm_seed})"
        return (
            f"digits/{self.variant}: {self.max_length} steps from {src}{perm}, 10-way CE at the"
            f" last step; solved: test accuracy >= {self.target_accuracy}"
            " (sequential MNIST: Le et al. 2015, Arjovsky et al. 2016)"
        )
