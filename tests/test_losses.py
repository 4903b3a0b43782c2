"""optax_like.losses against optax.losses 0.2.8: values and gradients over random inputs.

Every loss name runs through one table of cases (random inputs at three logit scales: ordinary,
very large, very small), compared with optax in float32 (values and the gradient of the summed
loss), eagerly and under ``jit``; then 16-bit inputs (same output dtype as optax, values at least
as close to the float32 answer), zero-size batches, all-masked rows, ``-inf`` logits for masked
classes (where we deliberately return the ``0 log 0 = 0`` answer and optax gives NaN) and the
argument checks.
"""

import functools
import warnings
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.scipy.special import logsumexp

import optax_like as ox
from differential import ErrorLog, assert_trees_close

LOG = ErrorLog('losses vs optax')
RTOL, ATOL = 2e-6, 1e-6
SCALES = {'unit': 1.0, 'large': 300.0, 'small': 1e-4}


def _softmax(rng, shape):
  return np.asarray(jax.nn.softmax(rng.normal(size=shape).astype(np.float32) * 2, axis=-1))


def _one_hot(rng, shape):
  return np.eye(shape[-1], dtype=np.float32)[rng.integers(0, shape[-1], size=shape[:-1])]


def _ctc_inputs(rng, s):
  logits = (s * rng.normal(size=(2, 6, 4))).astype(np.float32)
  logit_paddings = np.zeros((2, 6), np.float32)
  logit_paddings[1, 4:] = 1.0
  labels = np.array([[1, 1, 2], [3, 2, 0]], np.int32)
  label_paddings = np.array([[0, 0, 0], [0, 0, 1]], np.float32)
  return (logits, logit_paddings, labels, label_paddings)


def _dice_inputs(rng, s, classes=4):
  return ((s * rng.normal(size=(2, 3, 3, classes))).astype(np.float32),
          _one_hot(rng, (2, 3, 3, classes)))


# name -> (inputs(rng, scale) -> args, keyword arguments, index of the differentiated argument)
def _cases():
  normal = lambda rng, shape, s=1.0: (s * rng.normal(size=shape)).astype(np.float32)
  mask = np.array([[1, 1, 0, 1, 0], [0, 1, 1, 1, 1], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1]], bool)
  return {
      'sigmoid_binary_cross_entropy': (
          lambda r, s: (normal(r, (4, 5), s), r.uniform(size=(4, 5)).astype(np.float32)), {}, 0),
      'sigmoid_focal_loss': (
          lambda r, s: (normal(r, (4, 5), s), r.uniform(size=(4, 5)).astype(np.float32)),
          {'alpha': 0.25, 'gamma': 2.0}, 0),
      'sigmoid_focal_loss/gamma0.5': (
          lambda r, s: (normal(r, (4, 5), s), (r.uniform(size=(4, 5)) > .5).astype(np.float32)),
          {'gamma': 0.5}, 0),
      'softmax_cross_entropy': (
          lambda r, s: (normal(r, (4, 5), s), _softmax(r, (4, 5))), {}, 0),
      'softmax_cross_entropy/axis0': (
          lambda r, s: (normal(r, (5, 4), s), _softmax(r, (4, 5)).T), {'axis': 0}, 0),
      'softmax_cross_entropy/where': (
          lambda r, s: (normal(r, (4, 5), s), _one_hot(r, (4, 5)) * mask), {'where': mask}, 0),
      'softmax_cross_entropy/labels_grad': (
          lambda r, s: (_softmax(r, (4, 5)), normal(r, (4, 5), s)),
          {}, 0),  # arguments swapped below: d/dlabels
      'safe_softmax_cross_entropy': (
          lambda r, s: (normal(r, (4, 5), s), _softmax(r, (4, 5))), {}, 0),
      'softmax_cross_entropy_with_integer_labels': (
          lambda r, s: (normal(r, (4, 5), s), r.integers(0, 5, size=4).astype(np.int32)), {}, 0),
      'softmax_cross_entropy_with_integer_labels/axes': (
          lambda r, s: (normal(r, (3, 2, 4), s), r.integers(0, 6, size=4).astype(np.int32)),
          {'axis': (0, 1)}, 0),
      'softmax_cross_entropy_with_integer_labels/where': (
          lambda r, s: (normal(r, (4, 5), s), np.array([0, 1, 0, 3], np.int32)),
          {'where': mask}, 0),
      'poly_loss_cross_entropy': (
          lambda r, s: (normal(r, (4, 5), s), _softmax(r, (4, 5))), {'epsilon': 2.0}, 0),
      'kl_divergence': (
          lambda r, s: (np.asarray(jax.nn.log_softmax(normal(r, (4, 5), s))), _softmax(r, (4, 5))),
          {}, 0),
      'kl_divergence_with_log_targets': (
          lambda r, s: (np.asarray(jax.nn.log_softmax(normal(r, (4, 5), s))),
                        np.log(_softmax(r, (4, 5)))), {}, 0),
      'generalized_kl_divergence': (
          lambda r, s: (normal(r, (4, 5)), r.uniform(0.1, 2, size=(4, 5)).astype(np.float32)),
          {'axis': None}, 0),
      'convex_kl_divergence': (
          lambda r, s: (normal(r, (4, 5)), r.uniform(0.1, 2, size=(4, 5)).astype(np.float32)),
          {}, 0),
      'hinge_loss': (
          lambda r, s: (normal(r, (6,), s), np.sign(normal(r, (6,)))), {}, 0),
      'perceptron_loss': (
          lambda r, s: (normal(r, (6,), s), np.sign(normal(r, (6,)))), {}, 0),
      'sparsemax_loss': (
          lambda r, s: (normal(r, (6,), s), r.integers(0, 2, size=6).astype(np.int32)), {}, 0),
      'multiclass_hinge_loss': (
          lambda r, s: (normal(r, (4, 5), s), r.integers(0, 5, size=4).astype(np.int32)), {}, 0),
      'multiclass_perceptron_loss': (
          lambda r, s: (normal(r, (4, 5), s), r.integers(0, 5, size=4).astype(np.int32)), {}, 0),
      'multiclass_sparsemax_loss': (
          lambda r, s: (normal(r, (4, 5), s), r.integers(0, 5, size=4).astype(np.int32)), {}, 0),
      'ctc_loss': (_ctc_inputs, {}, 0),
      'ctc_loss_with_forward_probs': (_ctc_inputs, {'blank_id': 1}, 0),
      'squared_error': (lambda r, s: (normal(r, (3, 4), s), normal(r, (3, 4), s)), {}, 0),
      'l2_loss': (lambda r, s: (normal(r, (3, 4), s), None), {}, 0),
      'huber_loss': (lambda r, s: (normal(r, (3, 4), s), normal(r, (3, 4))), {'delta': 0.5}, 0),
      'log_cosh': (lambda r, s: (normal(r, (3, 4), s), normal(r, (3, 4), s)), {}, 0),
      'cosine_similarity': (lambda r, s: (normal(r, (3, 4), s), normal(r, (3, 4))), {}, 0),
      'cosine_distance': (
          lambda r, s: (normal(r, (3, 4), s), normal(r, (3, 4))),
          {'epsilon': 1e-12, 'where': mask[:3, :4]}, 0),
      'ranking_softmax_loss': (
          lambda r, s: (normal(r, (4, 5), s), r.integers(0, 3, size=(4, 5)).astype(np.float32)),
          {}, 0),
      'ranking_softmax_loss/where': (
          lambda r, s: (normal(r, (4, 5), s), r.integers(0, 3, size=(4, 5)).astype(np.float32)),
          {'where': mask, 'weights': np.linspace(0.5, 2, 5, dtype=np.float32),
           'reduce_fn': jnp.sum}, 0),
      'dice_loss': (_dice_inputs, {}, 0),
      'dice_loss/tversky': (
          _dice_inputs, {'alpha': 0.3, 'beta': 0.7, 'reduction': 'none',
                         'class_weights': np.array([0.5, 1.0, 1.5, 2.0], np.float32),
                         'ignore_background': True, 'smooth': 0.5}, 0),
      'multiclass_generalized_dice_loss': (_dice_inputs, {'ignore_background': True}, 0),
      'binary_dice_loss': (
          lambda r, s: (normal(r, (2, 3, 3), s), (r.uniform(size=(2, 3, 3)) > .5)
                        .astype(np.float32)), {}, 0),
      'ntxent': (
          lambda r, s: (normal(r, (6, 3), s), np.array([0, 0, 1, 1, 2, 2], np.int32)),
          {'temperature': 0.1}, 0),
      'triplet_margin_loss': (
          lambda r, s: (normal(r, (4, 3), s), normal(r, (4, 3), s), normal(r, (4, 3), s)),
          {'margin': 0.5}, 0),
      'smooth_labels': (lambda r, s: (_one_hot(r, (4, 5)), 0.1), {}, 0),
      'make_fenchel_young_loss': (
          lambda r, s: (normal(r, (4, 5), s), _softmax(r, (4, 5))), {}, 0),
  }


CASES = _cases()


def _fns(case):
  name = case.split('/')[0]
  if name == 'make_fenchel_young_loss':
    return (ox.losses.make_fenchel_young_loss(logsumexp),
            optax.losses.make_fenchel_young_loss(logsumexp))
  ours, theirs = getattr(ox.losses, name), getattr(optax.losses, name)
  if case.endswith('/labels_grad'):   # differentiate with respect to the labels
    ours, theirs = [functools.partial(lambda f, y, x: f(x, y), f) for f in (ours, theirs)]
  return ours, theirs


def _total(fn, kwargs, argnum):
  """``args -> (sum of the loss, the loss)`` differentiated in ``args[argnum]``."""
  def total(x, args):
    out = fn(*args[:argnum], x, *args[argnum + 1:], **kwargs)
    first = out[0] if isinstance(out, tuple) else out
    return jnp.sum(first), out
  return jax.value_and_grad(total, has_aux=True)


_JITTED = {}


def _value_and_grad(fn, args, kwargs, argnum, jit=True, key=None):
  """(loss, gradient); jitted once per ``key`` (the other arguments are traced inputs, so every
  scale and seed of a case reuses one compilation)."""
  f = _total(fn, kwargs, argnum)
  if jit:
    if key is None or key not in _JITTED:
      f = jax.jit(f)
      if key is not None:
        _JITTED[key] = f
    else:
      f = _JITTED[key]
  rest = tuple(None if i == argnum else a for i, a in enumerate(args))
  (_, out), grad = f(args[argnum], rest)
  return out, grad


def _call_both(case, scale, seed=0, jit=True):
  """((our loss, our gradient), (optax's loss, optax's gradient)); with ``jit``, both sides run
  in one compiled program per case, reused by every scale and seed."""
  make, kwargs, argnum = CASES[case]
  args = make(np.random.default_rng(seed), SCALES[scale])
  ours, theirs = _fns(case)
  sides = (_total(ours, kwargs, argnum), _total(theirs, kwargs, argnum))

  def both(x, rest):
    return tuple((out, grad) for (_, out), grad in (side(x, rest) for side in sides))

  key = (case, 'both')
  if jit and key not in _JITTED:
    _JITTED[key] = jax.jit(both)
  rest = tuple(None if i == argnum else a for i, a in enumerate(args))
  with warnings.catch_warnings():
    warnings.simplefilter('ignore', DeprecationWarning)
    return (_JITTED[key] if jit else both)(args[argnum], rest)


def test_every_optax_loss_has_a_case():
  names = {n for n in dir(optax.losses) if not n.startswith('_')}
  assert names == {case.split('/')[0] for case in CASES}


# Very small logits only where a log-sum-exp or a sigmoid meets them (the rest is polynomial).
SMALL_SCALE_CASES = ['sigmoid_binary_cross_entropy', 'sigmoid_focal_loss',
                     'softmax_cross_entropy', 'softmax_cross_entropy_with_integer_labels',
                     'poly_loss_cross_entropy', 'log_cosh', 'ctc_loss', 'ranking_softmax_loss']
SWEEP = [(case, ('unit', 'large', 'small') if case in SMALL_SCALE_CASES else ('unit', 'large'))
         for case in sorted(CASES)]


@pytest.mark.parametrize('case,scales', SWEEP, ids=[case for case, _ in SWEEP])
def test_values_and_gradients_equal_optax(case, scales):
  for scale in scales:
    ours, theirs = _call_both(case, scale, seed=zlib.crc32(f'{case} {scale}'.encode()))
    for part, a, b in (('value', ours[0], theirs[0]), ('grad', ours[1], theirs[1])):
      finite = all(bool(np.all(np.isfinite(x))) for x in jax.tree.leaves(b))
      assert finite, f'{case}: optax {part} not finite at scale {scale}'
      assert_trees_close(a, b, rtol=RTOL, atol=ATOL, err_msg=f'{case} {part} {scale}', log=LOG)


@pytest.mark.parametrize('case', ['softmax_cross_entropy/where',
                                  'softmax_cross_entropy_with_integer_labels/axes'])
def test_eager_equals_optax(case):
  ours, theirs = _call_both(case, 'unit', seed=3, jit=False)
  assert_trees_close(ours, theirs, rtol=RTOL, atol=ATOL, err_msg=case, log=LOG)


# ----------------------------------------------------------------------------- 16-bit inputs

LOW_PRECISION = ['sigmoid_binary_cross_entropy', 'sigmoid_focal_loss',
                 'softmax_cross_entropy/where', 'softmax_cross_entropy_with_integer_labels',
                 'kl_divergence', 'multiclass_sparsemax_loss', 'ctc_loss', 'huber_loss',
                 'cosine_similarity', 'ranking_softmax_loss', 'triplet_margin_loss']
def _to(dtype, x):
  if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating):
    return jnp.asarray(x, dtype)
  return x


LOW_PRECISION_CASES = ([(case, jnp.bfloat16) for case in LOW_PRECISION]
                       + [(case, jnp.float16) for case in ('softmax_cross_entropy', 'log_cosh')])


@pytest.mark.parametrize('case,dtype', LOW_PRECISION_CASES)
def test_16_bit_inputs_have_optax_dtype_and_float32_accuracy(case, dtype):
  make, kwargs, argnum = CASES[case]
  args = make(np.random.default_rng(7), 1.0)
  low = tuple(_to(dtype, a) for a in args)
  ours, theirs = _fns(case)
  to32 = lambda t: jax.tree.map(  # noqa: E731
      lambda a: a.astype(jnp.float32) if a.dtype == dtype else a, t)

  def run(with_theirs):
    sides = [(_total(ours, kwargs, argnum), lambda t: t)]
    if with_theirs:
      sides.append((_total(theirs, kwargs, argnum), lambda t: t))
    sides.append((_total(theirs, kwargs, argnum), to32))   # the float32 reference

    def all_sides(x, rest):
      return [(out, grad) for (_, out), grad in
              (side(prep(x), prep(rest)) for side, prep in sides)]
    rest = tuple(None if i == argnum else a for i, a in enumerate(low))
    return jax.jit(all_sides)(low[argnum], rest)

  try:
    ours_low, theirs_low, reference = run(True)
  except TypeError:  # optax's simplex projection has no 16-bit gradient: compare with float32
    assert case == 'multiclass_sparsemax_loss'
    ours_low, reference = run(False)
    theirs_low = jax.tree.map(lambda x: x.astype(dtype), ours_low)
  eps = float(jnp.finfo(dtype).eps)
  for a, b, ref in zip(jax.tree.leaves(ours_low), jax.tree.leaves(theirs_low),
                       jax.tree.leaves(reference)):
    assert a.dtype == b.dtype, (case, a.dtype, b.dtype)
    a64, b64, r64 = (np.asarray(x, np.float64) for x in (a, b, ref))
    # One rounding of the float32 answer (half an ulp, relative; absolute near 0) ...
    np.testing.assert_allclose(a64, r64, rtol=eps, atol=eps * np.abs(r64).max(initial=1e-3))
    # ... so never further from it than optax's 16-bit arithmetic (plus that rounding).
    assert np.nanmax(np.abs(a64 - r64)) <= np.nanmax(np.abs(b64 - r64)) + eps * np.abs(
        r64).max(initial=0) + 1e-12, case


def test_bfloat16_log_sum_exp_over_many_classes():
  # 1000 classes in bfloat16: optax's bfloat16 log-sum-exp is off in the second digit.
  logits = jnp.asarray(np.random.default_rng(0).normal(size=(2, 1000)), jnp.bfloat16)
  labels = jnp.array([3, 999])
  exact = optax.losses.softmax_cross_entropy_with_integer_labels(
      logits.astype(jnp.float32), labels)
  ours = ox.losses.softmax_cross_entropy_with_integer_labels(logits, labels)
  assert ours.dtype == jnp.bfloat16
  np.testing.assert_allclose(np.asarray(ours, np.float32), exact, rtol=2 ** -8)


# ---------------------------------------------------------- masked classes and all-masked rows

INF = np.inf


def _loss_and_grad(fn, x, *rest, **kwargs):
  """``(fn(x, ...), d sum(fn) / dx)`` in one jitted program."""
  def both(x, rest):
    loss = fn(x, *rest, **kwargs)
    return loss, jax.grad(lambda y: jnp.sum(fn(y, *rest, **kwargs)))(x)
  return jax.jit(both)(x, rest)


def test_minus_inf_logit_on_a_zero_label_contributes_nothing():
  # Row 0: classes {1, 2} share the mass: log 2. Optax: NaN (0 * -inf).
  logits = jnp.array([[-INF, 0.0, 0.0], [1.0, 2.0, 3.0]])
  labels = jnp.array([[0.0, 0.5, 0.5], [0.0, 0.0, 1.0]])
  for fn in (ox.losses.softmax_cross_entropy, ox.losses.safe_softmax_cross_entropy):
    loss, grad = _loss_and_grad(fn, logits, labels)
    np.testing.assert_allclose(loss[0], np.log(2.0), rtol=1e-6)
    assert np.all(np.isfinite(grad)) and np.all(np.isfinite(loss))
    np.testing.assert_allclose(grad[0], [0.0, 0.0, 0.0], atol=1e-7)
  theirs_loss, theirs_grad = _loss_and_grad(optax.losses.softmax_cross_entropy, logits, labels)
  assert np.isnan(theirs_loss[0])
  # The finite row is unchanged, as is the gradient (which optax gets right).
  np.testing.assert_allclose(loss[1], theirs_loss[1], rtol=1e-6)
  np.testing.assert_allclose(grad, theirs_grad, rtol=1e-6)
  # A -inf logit on the target class is an infinite loss with a finite gradient, as in optax.
  assert ox.losses.softmax_cross_entropy(logits, jnp.array([[1.0, 0, 0], [0, 0, 1]]))[0] == INF


def test_integer_labels_with_minus_inf_logits_and_out_of_range_labels():
  logits = jnp.array([[-INF, 0.0, 0.0], [1.0, 2.0, 3.0]])
  fn = ox.losses.softmax_cross_entropy_with_integer_labels
  np.testing.assert_allclose(fn(logits, jnp.array([1, 2])),
                             optax.losses.softmax_cross_entropy_with_integer_labels(
                                 logits, jnp.array([1, 2])), rtol=1e-6)
  assert np.all(np.isfinite(jax.grad(lambda x: fn(x, jnp.array([1, 2])).sum())(logits)))
  # A label outside [0, num_classes) is NaN, as in optax (no silent wrong number).
  for bad in (3, 7):
    ours = fn(logits, jnp.array([1, bad]))
    theirs = optax.losses.softmax_cross_entropy_with_integer_labels(logits, jnp.array([1, bad]))
    assert np.isnan(ours[1]) and np.isnan(theirs[1])


@pytest.mark.parametrize('name', ['softmax_cross_entropy',
                                  'softmax_cross_entropy_with_integer_labels',
                                  'poly_loss_cross_entropy', 'ranking_softmax_loss'])
def test_all_masked_rows_give_zero_with_zero_gradients(name):
  logits = jnp.array([[1.0, 2.0, 3.0], [4.0, -5.0, 6.0]])
  where = jnp.array([[True, False, True], [False, False, False]])
  if name == 'softmax_cross_entropy_with_integer_labels':
    labels = jnp.array([0, 1])
  else:
    labels = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
  kwargs = {'reduce_fn': None} if name == 'ranking_softmax_loss' else {}
  ours_fn, theirs_fn = getattr(ox.losses, name), getattr(optax.losses, name)
  ours = _loss_and_grad(ours_fn, logits, labels, where=where, **kwargs)
  theirs = _loss_and_grad(theirs_fn, logits, labels, where=where, **kwargs)
  if name != 'ranking_softmax_loss':
    assert ours[0][1] == 0.0
  np.testing.assert_array_equal(ours[1][1], 0.0)
  assert_trees_close(ours, theirs, rtol=RTOL, atol=ATOL, err_msg=name)


def test_perfect_infinite_logits_give_zero_binary_losses():
  logits = jnp.array([-INF, INF, 50.0, -50.0])
  labels = jnp.array([0.0, 1.0, 1.0, 0.0])
  for fn in (ox.losses.sigmoid_binary_cross_entropy, ox.losses.sigmoid_focal_loss):
    loss, grad = _loss_and_grad(fn, logits, labels)
    np.testing.assert_allclose(loss, 0.0, atol=1e-20)
    assert np.all(np.isfinite(grad))
  # Optax gives NaN at the infinite logits.
  assert np.isnan(optax.losses.sigmoid_binary_cross_entropy(logits, labels)[0])


def test_focal_loss_hand_computed():
  # p = sigmoid(0) = 1/2, y = 1: ce = log 2, weight (1/2)^2, alpha_t = 0.25.
  np.testing.assert_allclose(
      ox.losses.sigmoid_focal_loss(jnp.array([0.0]), jnp.array([1.0]), alpha=0.25),
      [0.25 * 0.25 * np.log(2)], rtol=1e-6)
  # gamma = 0 is the cross entropy, also where 1 - p_t underflows.
  logits, labels = jnp.array([-INF, 3.0]), jnp.array([0.0, 1.0])
  np.testing.assert_allclose(ox.losses.sigmoid_focal_loss(logits, labels, gamma=0.0),
                             ox.losses.sigmoid_binary_cross_entropy(logits, labels), rtol=1e-6)


def test_kl_divergences_with_zero_targets():
  log_p = jnp.array([jnp.log(0.5), jnp.log(0.5), -INF])
  targets = jnp.array([0.5, 0.5, 0.0])
  value, (g_lp, g_t) = jax.value_and_grad(
      lambda a, b: ox.losses.kl_divergence(a, b), argnums=(0, 1))(log_p, targets)
  assert value == 0.0
  assert np.all(np.isfinite(g_lp)) and np.all(np.isfinite(g_t[:2]))
  assert np.isnan(optax.losses.kl_divergence(log_p, targets))
  log_t = jnp.log(targets)
  value, grads = jax.value_and_grad(
      lambda a, b: ox.losses.kl_divergence_with_log_targets(a, b), argnums=(0, 1))(log_p, log_t)
  assert value == 0.0 and all(np.all(np.isfinite(g)) for g in grads)
  # d KL / d log p = -t, as in optax where optax is finite.
  np.testing.assert_allclose(g_lp, [-0.5, -0.5, 0.0], rtol=1e-6)


@pytest.mark.parametrize('name,args', [
    ('softmax_cross_entropy', lambda: (np.zeros((0, 5), np.float32),
                                       np.zeros((0, 5), np.float32))),
    ('softmax_cross_entropy_with_integer_labels', lambda: (np.zeros((0, 5), np.float32),
                                                           np.zeros((0,), np.int32))),
    ('sigmoid_binary_cross_entropy', lambda: (np.zeros((0, 3), np.float32),
                                              np.zeros((0, 3), np.float32))),
    ('sigmoid_focal_loss', lambda: (np.zeros((0,), np.float32), np.zeros((0,), np.float32))),
    ('kl_divergence', lambda: (np.zeros((0, 4), np.float32), np.zeros((0, 4), np.float32))),
    ('poly_loss_cross_entropy', lambda: (np.zeros((0, 4), np.float32),
                                         np.zeros((0, 4), np.float32))),
    ('multiclass_hinge_loss', lambda: (np.zeros((0, 4), np.float32), np.zeros((0,), np.int32))),
    ('multiclass_sparsemax_loss', lambda: (np.zeros((0, 4), np.float32),
                                           np.zeros((0,), np.int32))),
    ('l2_loss', lambda: (np.zeros((0, 2), np.float32),)),
    ('huber_loss', lambda: (np.zeros((0,), np.float32),)),
    ('cosine_similarity', lambda: (np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32))),
    ('ranking_softmax_loss', lambda: (np.zeros((0, 3), np.float32),
                                      np.zeros((0, 3), np.float32))),
    ('smooth_labels', lambda: (np.zeros((0, 3), np.float32), 0.1)),
    ('ctc_loss', lambda: (np.zeros((0, 3, 4), np.float32), np.zeros((0, 3), np.float32),
                          np.zeros((0, 2), np.int32), np.zeros((0, 2), np.float32))),
])
def test_zero_size_batches(name, args):
  ours = getattr(ox.losses, name)(*args())
  theirs = getattr(optax.losses, name)(*args())
  assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
  np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))


def test_ctc_hand_computed_and_padding():
  # Equiprobable {blank, 1} in every frame, three sequences in one batch:
  # 0: 2 frames (the third is padding), label [1]: alignments 11, 1-, -1: -log(3/4).
  # 1: the same with the padded label id -1 (padded labels are ignored, whatever their id).
  # 2: 3 frames, label [1, 1]: a blank must separate the repeats, one alignment 1-1: 3 log 2.
  logit_paddings = jnp.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
  labels = jnp.array([[1, 0], [1, -1], [1, 1]])
  label_paddings = jnp.array([[0.0, 1.0], [0.0, 1.0], [0.0, 0.0]])
  loss = ox.ctc_loss(jnp.zeros((3, 3, 2)), logit_paddings, labels, label_paddings)
  np.testing.assert_allclose(loss, [-np.log(0.75), -np.log(0.75), 3 * np.log(2)], rtol=1e-5)


def test_hand_computed_values():
  np.testing.assert_allclose(ox.huber_loss(jnp.array([0.5, -3.0])), [0.125, 2.5])
  np.testing.assert_allclose(ox.l2_loss(jnp.array([2.0]), jnp.array([1.0])), [0.5])
  np.testing.assert_allclose(ox.smooth_labels(jnp.array([[1.0, 0.0]]), 0.2), [[0.9, 0.1]],
                             rtol=1e-6)
  np.testing.assert_allclose(ox.kl_divergence(jnp.log(jnp.array([0.25, 0.75])),
                                              jnp.array([0.5, 0.5])),
                             0.5 * np.log(2) + 0.5 * np.log(2 / 3), rtol=1e-6)
  np.testing.assert_allclose(ox.losses.multiclass_sparsemax_loss(
      jnp.array([[1.0, 0.5, -1.0]]), jnp.array([1])), [0.75 * 0.5 + 0.5 * (1 - 0.625)],
      rtol=1e-6)


def test_convex_kl_divergence_warns_as_deprecated():
  with pytest.warns(DeprecationWarning, match='generalized_kl_divergence'):
    ox.convex_kl_divergence(jnp.zeros(2), jnp.ones(2))


def test_top_level_aliases_are_the_losses_objects():
  import types
  for name in dir(optax):
    obj = getattr(optax, name, None)
    if isinstance(obj, types.FunctionType) and obj.__module__.startswith('optax.losses'):
      assert getattr(ox, name) is getattr(ox.losses, name), name


# ---------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize('call,error,words', [
    (lambda: ox.softmax_cross_entropy(jnp.array([[1, 2]]), jnp.array([[1.0, 0.0]])),
     TypeError, ['softmax_cross_entropy', '`logits`', 'int32']),
    (lambda: ox.softmax_cross_entropy_with_integer_labels(jnp.ones((2, 3)), jnp.ones(2)),
     TypeError, ['`labels`', 'integer']),
    (lambda: ox.softmax_cross_entropy_with_integer_labels(jnp.ones((2, 3)), jnp.ones(2, int),
                                                          axis=2),
     ValueError, ['`axis`', 'out of bounds']),
    (lambda: ox.softmax_cross_entropy_with_integer_labels(jnp.ones((2, 3)), jnp.ones(2, int),
                                                          axis=[1]),
     ValueError, ['`axis`', 'tuple']),
    (lambda: ox.squared_error(jnp.ones(3), jnp.ones(2)), ValueError,
     ['`predictions`', '`targets`', '(3,)', '(2,)']),
    (lambda: ox.l2_loss(jnp.array([1, 2])), TypeError, ['l2_loss', '`predictions`']),
    (lambda: ox.losses.perceptron_loss(jnp.ones(3), jnp.ones(2)), ValueError,
     ['`predictor_outputs`', '`targets`']),
    (lambda: ox.ctc_loss(jnp.ones((2, 3, 4)), jnp.ones((2, 3)), jnp.ones((1, 2), int),
                         jnp.ones((1, 2))), ValueError, ['`labels`', 'batch size 2']),
    (lambda: ox.ctc_loss(jnp.ones((2, 3)), jnp.ones((2, 3)), jnp.ones((2, 2), int),
                         jnp.ones((2, 2))), ValueError, ['`logits`', 'rank 3']),
    (lambda: ox.ctc_loss(jnp.ones((2, 3, 4)), jnp.ones((2, 4)), jnp.ones((2, 2), int),
                         jnp.ones((2, 2))), ValueError, ['`logit_paddings`']),
    (lambda: ox.losses.dice_loss(jnp.ones((1, 2, 2)), jnp.ones((1, 2, 2)), reduction='max'),
     ValueError, ['`reduction`', "'max'"]),
    (lambda: ox.losses.dice_loss(jnp.ones((1, 2, 2)), jnp.ones((1, 2, 2)), apply_softmax=False),
     ValueError, ['`predictions`', 'sum to 1']),
    (lambda: ox.ntxent(jnp.ones((4, 2)), jnp.ones(3, int)), ValueError,
     ['`labels`', '`embeddings`']),
    (lambda: ox.cosine_similarity(jnp.ones(3), jnp.ones(3, int)), TypeError, ['`targets`']),
])
def test_bad_input_names_the_argument(call, error, words):
  with pytest.raises(error) as info:
    call()
  for word in words:
    assert word in str(info.value), (word, str(info.value))
