r"""Smoothing a function by random perturbations of its input (``optax_like.perturbations``).

``make_perturbed_fun(f)`` returns a Monte-Carlo estimate of
:math:`f_\sigma(x) = \mathbb{E}_{z \sim \mu}\, f(x + \sigma z)` whose derivatives of every order
(through JAX's autodiff) are unbiased estimates of those of :math:`f_\sigma`, using only values
of :math:`f`: ``f`` itself may be piecewise constant (an argmax, a ranking, a solver).
"""

from __future__ import annotations

import numbers
from typing import Any, Callable

import jax
import jax.numpy as jnp

from optax_like._src import tree_math, validation

ArrayTree = Any


class _Distribution:
  """A noise distribution without parameters: all instances of a class are the same
  distribution, so they compare equal (also to optax's class of the same name)."""

  def __eq__(self, other):
    return (type(other).__name__ == type(self).__name__
            and callable(getattr(other, 'sample', None))
            and callable(getattr(other, 'log_prob', None)))

  def __hash__(self):
    return hash(type(self).__name__)

  def __repr__(self):
    return f'{type(self).__name__}()'


class Normal(_Distribution):
  r"""The standard normal distribution, :math:`\log p(z) = -z^2/2` (up to a constant).

  Example:
    >>> import jax, optax_like as ox
    >>> ox.perturbations.Normal().sample(jax.random.key(0), (3,)).shape
    (3,)
    >>> float(ox.perturbations.Normal().log_prob(2.0))
    -2.0
  """

  def sample(self, key: jax.typing.ArrayLike, sample_shape: Any = (),
             dtype: jax.typing.DTypeLike = float) -> jax.Array:
    return jax.random.normal(key, sample_shape, dtype)

  def log_prob(self, inputs: jax.Array) -> jax.Array:
    return -0.5 * inputs ** 2


class Gumbel(_Distribution):
  r"""The standard Gumbel distribution, :math:`\log p(z) = -z - e^{-z}`.

  Example:
    >>> import jax, optax_like as ox
    >>> ox.perturbations.Gumbel().sample(jax.random.key(0), (2, 2)).shape
    (2, 2)
    >>> float(ox.perturbations.Gumbel().log_prob(0.0))
    -1.0
  """

  def sample(self, key: jax.typing.ArrayLike, sample_shape: Any = (),
             dtype: jax.typing.DTypeLike = float) -> jax.Array:
    return jax.random.gumbel(key, sample_shape, dtype)

  def log_prob(self, inputs: jax.Array) -> jax.Array:
    return -inputs - jnp.exp(-inputs)


def _magic_box(x: jax.Array) -> jax.Array:
  """DiCE's magic box: 1 in value, and :math:`\\nabla e^{x - \\bot(x)} = \\nabla x`."""
  return jnp.exp(x - jax.lax.stop_gradient(x))


def make_perturbed_fun(
    fun: Callable[[ArrayTree], ArrayTree],
    num_samples: int = 1000,
    sigma: jax.typing.ArrayLike = 0.1,
    noise=Gumbel(),
    use_baseline=True,
) -> Callable[[Any, ArrayTree], ArrayTree]:
  r"""A stochastic, differentiable stand-in for ``fun``: ``perturbed(key, x)``.

  With :math:`n` = ``num_samples`` noise draws :math:`z_k \sim \mu` (``noise``) per call,
  :math:`y_k = \bot(x + \sigma z_k)` (no gradient through the draw) and
  :math:`b = \bot(f(x))` the baseline (when ``use_baseline``),

  .. math::
    \hat f(x) = \frac{1}{n} \sum_k \Big[\, w_k f(y_k) + (1 - w_k)\, b \,\Big], \qquad
    w_k = \mathrm{box}\Big(\sum \log \mu\big((y_k - x)/\sigma\big)\Big)

  where :math:`\mathrm{box}(s) = e^{s - \bot(s)}` equals 1 in value, so :math:`\hat f(x)` is the
  Monte-Carlo mean of :math:`f(y_k)`, while its gradient is the score-function (REINFORCE)
  estimate :math:`\frac1n \sum_k (f(y_k) - b)\, \nabla_x \log \mu((y_k - x)/\sigma)`, and so on
  for higher derivatives. ``fun`` maps a pytree to a pytree of arrays; it is only evaluated.

  References: Berthet et al., `Learning with Differentiable Perturbed Optimizers
  <https://arxiv.org/abs/2002.08676>`_, 2020; Foerster et al., `DiCE
  <https://arxiv.org/abs/1802.05098>`_, 2018.

  Example:
    >>> import jax, jax.numpy as jnp, optax_like as ox
    >>> f = lambda x: jnp.sum(jnp.sign(x))   # flat far from 0: every sample gives f(x)
    >>> smooth = ox.perturbations.make_perturbed_fun(f, num_samples=8, sigma=0.1)
    >>> x = jnp.array([5.0, 5.0])
    >>> float(smooth(jax.random.key(0), x)), jax.grad(smooth, argnums=1)(jax.random.key(0), x).tolist()
    (2.0, [-0.0, -0.0])
  """
  fn = 'make_perturbed_fun'
  if not callable(fun):
    raise TypeError(f'{fn}: `fun` must be callable, got {type(fun).__name__}.')
  if isinstance(num_samples, bool) or not isinstance(num_samples, numbers.Integral) or num_samples < 1:
    raise ValueError(f'{fn}: `num_samples` must be a positive int, got {num_samples!r}.')
  validation.check_range(sigma, 'sigma', low=0, low_inclusive=False, fn=fn)
  if not (callable(getattr(noise, 'sample', None)) and callable(getattr(noise, 'log_prob', None))):
    raise TypeError(f'{fn}: `noise` must have `sample(key, shape, dtype)` and `log_prob(z)` '
                    f'methods (like Gumbel() or Normal()), got {type(noise).__name__}.')

  def perturbed(key: Any, x: ArrayTree) -> ArrayTree:
    baseline = fun(jax.lax.stop_gradient(x)) if use_baseline else None

    def one_sample(sample_key, x, baseline):
      z = tree_math.tree_random_like(sample_key, x, sampler=noise.sample)
      y = jax.lax.stop_gradient(jax.tree.map(lambda xi, zi: xi + sigma * zi, x, z))
      # The noise recovered from y: equal to z in value, but a function of x for autodiff.
      z_of_x = jax.tree.map(lambda xi, yi: (yi - xi) / sigma, x, y)
      weight = _magic_box(tree_math.tree_sum(jax.tree.map(noise.log_prob, z_of_x)))
      out = tree_math.tree_scale(weight, fun(y))
      if use_baseline:
        out = tree_math.tree_add_scale(out, 1 - weight, baseline)
      return out

    keys = jax.random.split(key, num_samples)
    samples = jax.vmap(one_sample, in_axes=(0, None, None))(keys, x, baseline)
    return jax.tree.map(lambda s: jnp.mean(s, axis=0), samples)

  return perturbed
