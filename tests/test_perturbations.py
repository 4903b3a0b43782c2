"""optax_like.perturbations against optax 0.2.8: the same Monte-Carlo values, gradients and
second derivatives for the same key (Gumbel and Normal noise, with and without baseline, pytree
inputs and outputs), eager and jitted; the noise distributions; bad arguments."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_like as ox


def _argmax_one_hot(x):
  return {'hot': jax.nn.one_hot(jnp.argmax(x['a']), 3), 'sum': jnp.sum(jnp.sign(x['b']))}


def _compare(a, b, rtol=1e-5, atol=1e-6):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    assert x.shape == y.shape and x.dtype == y.dtype
    np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


@pytest.mark.parametrize('noise,use_baseline', [('Gumbel', True), ('Normal', False)])
def test_values_and_gradients_match_optax(noise, use_baseline):
  x = {'a': jnp.array([0.3, 0.1, 0.2]), 'b': jnp.array([-0.05, 0.02])}
  key = jax.random.key(0)
  kw = dict(num_samples=64, sigma=0.5, use_baseline=use_baseline)
  ours = ox.perturbations.make_perturbed_fun(
      _argmax_one_hot, noise=getattr(ox.perturbations, noise)(), **kw)
  theirs = optax.perturbations.make_perturbed_fun(
      _argmax_one_hot, noise=getattr(optax.perturbations, noise)(), **kw)
  _compare(ours(key, x), theirs(key, x))
  scalar = lambda fn: lambda k, x: jnp.vdot(fn(k, x)['hot'], jnp.arange(3.0)) + fn(k, x)['sum']
  _compare(jax.grad(scalar(ours), argnums=1)(key, x),
           jax.grad(scalar(theirs), argnums=1)(key, x))
  _compare(jax.jit(ours)(key, x), theirs(key, x))


def test_second_derivative_matches_optax():
  f = lambda x: jnp.sum(jnp.abs(x))
  x = jnp.array([0.2, -0.1])
  key = jax.random.key(1)
  ours = ox.perturbations.make_perturbed_fun(f, 32, 0.3)
  theirs = optax.perturbations.make_perturbed_fun(f, 32, 0.3)
  _compare(jax.hessian(ours, argnums=1)(key, x), jax.hessian(theirs, argnums=1)(key, x),
           rtol=1e-4, atol=1e-5)


def test_noise_distributions():
  key = jax.random.key(2)
  for name in ('Gumbel', 'Normal'):
    ours, theirs = getattr(ox.perturbations, name)(), getattr(optax.perturbations, name)()
    np.testing.assert_array_equal(ours.sample(key, (4,)), theirs.sample(key, (4,)))
    z = jnp.array([-1.0, 0.0, 2.0])
    np.testing.assert_allclose(ours.log_prob(z), theirs.log_prob(z))
    assert ours == theirs and ours != getattr(ox.perturbations,
                                             {'Gumbel': 'Normal', 'Normal': 'Gumbel'}[name])()
  assert float(ox.perturbations.Normal().log_prob(2.0)) == -2.0
  assert float(ox.perturbations.Gumbel().log_prob(0.0)) == -1.0
  default = inspect.signature(ox.perturbations.make_perturbed_fun).parameters['noise'].default
  assert default == optax.perturbations.Gumbel()


def test_bad_arguments_are_named():
  f = lambda x: x
  with pytest.raises(ValueError, match='`num_samples`'):
    ox.perturbations.make_perturbed_fun(f, num_samples=0)
  with pytest.raises(ValueError, match='`sigma`'):
    ox.perturbations.make_perturbed_fun(f, sigma=0.0)
  with pytest.raises(TypeError, match='`sigma`'):
    ox.perturbations.make_perturbed_fun(f, sigma=True)
  with pytest.raises(TypeError, match='`noise`'):
    ox.perturbations.make_perturbed_fun(f, noise='gumbel')
  with pytest.raises(TypeError, match='`fun`'):
    ox.perturbations.make_perturbed_fun(3)
