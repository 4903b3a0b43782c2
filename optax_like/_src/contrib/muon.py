r"""Muon: momentum orthogonalised by a Newton-Schulz iteration, with Adam for the other leaves.

Jordan, `modded-nanogpt <https://github.com/KellerJordan/modded-nanogpt>`_, 2024; Bernstein &
Newhouse, `Old Optimizer, New Norm <https://arxiv.org/abs/2409.20325>`_, 2024 (the adaptive
scaling); Liu et al., `Muon is Scalable for LLM Training <https://arxiv.org/abs/2502.16982>`_,
2025 (the consistent-RMS scaling). Preconditionings: Boissin et al., `Turbo-Muon
<https://arxiv.org/abs/2512.04632>`_ (AOL) and Grishina et al.
<https://arxiv.org/abs/2506.10935> (Schatten-4); coefficient schedules: Ahn et al., `Dion
<https://arxiv.org/abs/2504.05295>`_.

A weight is orthogonalised as a batch of matrices: ``MuonDimensionNumbers`` names its reduction
(input) axes and output axes; every other axis is a batch axis.
"""

import math
from typing import Any, Callable, Literal, NamedTuple, Optional, Sequence, Union

import chex
import jax
import jax.numpy as jnp
import numpy as np

from optax_like._src import adaptive as adaptive_lib
from optax_like._src import alias
from optax_like._src import base
from optax_like._src import masking
from optax_like._src import moments
from optax_like._src import scaling
from optax_like._src import tree
from optax_like._src import validation
from optax_like._src.weight_decay import add_decayed_weights

_STANDARD_COEFFS = (3.4445, -4.7750, 2.0315)
# One (a, b, c) per iteration (Dion's schedule).
_DION_COEFFS = (
    (4.0848, -6.8946, 2.9270),
    (3.9505, -6.3029, 2.6377),
    (3.7418, -5.5913, 2.3037),
    (2.8769, -3.1427, 1.2046),
    (2.8366, -3.0525, 1.2012),
)
_PRESETS = {'standard': _STANDARD_COEFFS, 'dion': _DION_COEFFS}
_PRECONDITIONINGS = ('frobenius', 'spectral', 'aol', 'schatten')
# The first-step rescalings (AOL, Schatten) clip their denominators at this value.
_FIRST_STEP_EPS = 1e-8


class MuonDimensionNumbers(NamedTuple):
  """Which axes of a weight form the matrix that Muon orthogonalises.

  ``reduction_axis`` (the input axes, contracted in ``x @ W``) and ``output_axis`` are an int or
  a sequence of ints (negative counts from the end); all other axes are batch axes, each
  matrix of the batch orthogonalised on its own. The default is the matrix ``W[in, out]``.
  """
  reduction_axis: Union[Sequence[int], int] = 0
  output_axis: Union[Sequence[int], int] = 1


class MuonState(NamedTuple):
  """State of ``scale_by_muon`` (optax's fields and order)."""
  count: chex.Array      # int32
  mu: base.Updates       # momentum
  ns_coeffs: chex.Array  # the Newton-Schulz coefficients, shape (3,) or (n, 3)


def _is_dims(x: Any) -> bool:
  return isinstance(x, MuonDimensionNumbers) or type(x).__name__ == 'MuonDimensionNumbers'


def _is_spec_leaf(x: Any) -> bool:
  return x is None or _is_dims(x) or isinstance(x, masking.MaskedNode)


# --------------------------------------------------------------------------- matrix layout


def _axes(ndim: int, dims: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
  as_tuple = lambda a: (a,) if isinstance(a, (int, np.integer)) else tuple(a)
  return (tuple(int(a) % ndim for a in as_tuple(dims.reduction_axis)),
          tuple(int(a) % ndim for a in as_tuple(dims.output_axis)))


def _matrix_layout(shape: tuple, dims: Any, where: str = '') -> tuple:
  """``(to_batch, from_batch)``: reshape a weight to ``(batch, fan_in, fan_out)`` and back."""
  ndim = len(shape)
  if ndim < 2:
    raise ValueError(f'scale_by_muon: Muon needs weights of rank >= 2{where}, got shape '
                     f'{shape}; give such leaves to Adam (muon() does so by default) or set '
                     'their dimension numbers.')
  red, out = _axes(ndim, dims)
  if set(red) & set(out):
    raise ValueError(f'scale_by_muon: reduction and output axes must be disjoint{where}, got '
                     f'{red} and {out} for shape {shape} ({dims}).')
  batch = tuple(a for a in range(ndim) if a not in red and a not in out)
  order = batch + red + out
  inverse = tuple(int(i) for i in np.argsort(order))
  sizes = lambda axes: tuple(shape[a] for a in axes)
  flat = (math.prod(sizes(batch)), math.prod(sizes(red)), math.prod(sizes(out)))
  grouped = sizes(batch) + sizes(red) + sizes(out)
  return (lambda x: x.transpose(order).reshape(flat),
          lambda x: x.reshape(grouped).transpose(inverse))


def _fans(shape: tuple, dims: Any) -> tuple[int, int]:
  red, out = _axes(len(shape), dims)
  return math.prod(shape[a] for a in red), math.prod(shape[a] for a in out)


# --------------------------------------------------------------------------- Newton-Schulz


def _ns_step(x: jax.Array, c: jax.Array) -> jax.Array:
  # X <- a X + (b A + c A A) X with A = X X^H: the quintic odd polynomial in the singular values.
  a = x @ x.T.conj()
  return c[0] * x + (c[1] * a + c[2] * a @ a) @ x


def _aol_first_step(x: jax.Array, c: jax.Array) -> jax.Array:
  # AOL: rows rescaled by 1/sqrt(sum_j |A_ij|), which bounds the spectral norm by 1.
  a = x @ x.T.conj()
  r = jnp.expand_dims(jax.lax.rsqrt(jnp.clip(jnp.abs(a).sum(axis=-1), min=_FIRST_STEP_EPS)), -1)
  x = x * r
  a = a * r * r.transpose(-1, -2)
  return c[0] * x + (c[1] * a + c[2] * a @ a) @ x


def _schatten_first_step(x: jax.Array, c: jax.Array) -> jax.Array:
  # Schatten-4: X / ||X X^T||_F^(1/2), an upper bound of the spectral norm.
  a = x @ x.T
  r = jnp.expand_dims(
      jax.lax.rsqrt(jnp.clip(jnp.linalg.norm(a, ord='fro', axis=(-2, -1)), min=_FIRST_STEP_EPS)),
      (0, -1))
  x = x * r
  a = a * r ** 2
  return c[0] * x + (c[1] * a + c[2] * a @ a) @ x


_FIRST_STEPS = {'aol': _aol_first_step, 'schatten': _schatten_first_step}


def _orthogonalize_matrix(x: jax.Array, coeffs: jax.Array, ns_steps: Any,
                          preconditioning: str, eps: Any) -> jax.Array:
  """The Newton-Schulz iterate of one matrix (its wide orientation, transposed back)."""
  tall = x.shape[0] > x.shape[1]
  if tall:
    x = x.T
  if preconditioning == 'frobenius':
    x = x / (jnp.linalg.norm(x, ord='fro') + eps)
  elif preconditioning == 'spectral':
    x = x / (jnp.linalg.norm(x, ord=2) + eps)
  first = _FIRST_STEPS.get(preconditioning, _ns_step)

  def step(i, x, c):
    if preconditioning in _FIRST_STEPS:
      return jax.lax.cond(i == 0, lambda y: first(y, c), lambda y: _ns_step(y, c), x)
    return _ns_step(x, c)

  coeffs = coeffs.astype(x.dtype)
  if coeffs.ndim == 1:
    x = jax.lax.fori_loop(0, ns_steps, lambda i, y: step(i, y, coeffs), x, unroll=True)
  else:
    def body(carry, c):
      i, y = carry
      return (i + 1, step(i, y, c)), None
    (_, x), _ = jax.lax.scan(body, (jnp.asarray(0, jnp.int32), x), coeffs)
  return x.T if tall else x


def _orthogonalize(x: jax.Array, dims: Any, coeffs: jax.Array, ns_steps: Any,
                   preconditioning: str, eps: Any, where: str = '') -> jax.Array:
  to_batch, from_batch = _matrix_layout(x.shape, dims, where)
  ortho = jax.vmap(lambda m: _orthogonalize_matrix(m, coeffs, ns_steps, preconditioning, eps))
  return from_batch(ortho(to_batch(x)))


# --------------------------------------------------------------------------- dimension numbers


def _leaf_dims(updates: Any, spec: Any, fn: str) -> list:
  """The dimension numbers of every leaf of ``updates`` (None leaves: None).

  ``spec`` is None (every leaf a matrix ``W[in, out]``), one ``MuonDimensionNumbers`` for all
  leaves, a tree of them (a prefix of the updates' structure; masked-out entries may be
  ``MaskedNode``), or a callable returning either from the updates.
  """
  if callable(spec) and not _is_dims(spec):
    spec = spec(updates)
  treedef = jax.tree.structure(updates, is_leaf=tree.is_none)
  n = treedef.num_leaves
  if spec is None:
    return [MuonDimensionNumbers()] * n
  if _is_dims(spec):
    return [spec] * n
  spec_def = jax.tree.structure(spec, is_leaf=_is_spec_leaf)
  try:
    subtrees = spec_def.flatten_up_to(updates)
  except (ValueError, TypeError):
    # Name the first path where the structures part (None entries made leaves for that).
    marked = jax.tree.map(lambda _: 0, spec, is_leaf=_is_spec_leaf)
    masking._check_prefix(marked, updates, 'the weight dimension numbers', 'the updates', fn)  # pylint: disable=protected-access
    raise
  dims = []
  for d, sub in zip(jax.tree.leaves(spec, is_leaf=_is_spec_leaf), subtrees):
    d = None if isinstance(d, masking.MaskedNode) else d
    dims += [d] * jax.tree.structure(sub, is_leaf=tree.is_none).num_leaves
  return dims


def _leaf_paths(updates: Any) -> list:
  return [jax.tree_util.keystr(p) for p, _ in
          jax.tree_util.tree_flatten_with_path(updates, is_leaf=tree.is_none)[0]]


def _check_coeffs(ns_coeffs: Any, ns_steps: Any, fn: str) -> None:
  try:
    c = np.asarray(ns_coeffs, dtype=np.float64)
  except (TypeError, ValueError):
    raise TypeError(f'{fn}: `ns_coeffs` must be three numbers or a sequence of triples, '
                    f'got {ns_coeffs!r:.80}.') from None
  if c.ndim not in (1, 2) or c.shape[-1] != 3:
    raise ValueError(f'{fn}: `ns_coeffs` must have shape (3,) or (n, 3), got {c.shape}.')
  if isinstance(ns_steps, (int, np.integer)) and not isinstance(ns_steps, bool):
    if ns_steps < 0:
      raise ValueError(f'{fn}: `ns_steps` must be >= 0, got {ns_steps}.')
    if c.ndim == 2 and c.shape[0] > ns_steps:
      raise ValueError(f'{fn}: `ns_coeffs` has {c.shape[0]} rows, more than the {ns_steps} '
                       'Newton-Schulz steps (`ns_steps`) to run.')
  else:
    validation.check_not_bool(ns_steps, 'ns_steps', fn)


def _check_preconditioning(preconditioning: Any, fn: str) -> None:
  if preconditioning not in _PRECONDITIONINGS:
    raise ValueError(f'{fn}: `preconditioning` must be one of {_PRECONDITIONINGS}, got '
                     f'{preconditioning!r}.')


# --------------------------------------------------------------------------- transforms


def scale_by_muon(
    ns_coeffs: Union[tuple[chex.Numeric, chex.Numeric, chex.Numeric],
                     tuple[tuple[chex.Numeric, chex.Numeric, chex.Numeric], ...]] = _STANDARD_COEFFS,
    ns_steps: chex.Numeric = 5,
    beta: chex.Numeric = 0.95,
    eps: chex.Numeric = 1e-8,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: Literal['frobenius', 'spectral', 'aol', 'schatten'] = 'frobenius',
    weight_dimension_numbers: Any = None,
) -> base.GradientTransformation:
  r"""Replaces each weight's update by its orthogonalised momentum (Muon's direction).

  .. math::
    \mu_t = \beta \mu_{t-1} + (1 - \beta) g_t, \qquad
    \hat\mu_t = \begin{cases}
      \beta \frac{\mu_t}{1 - \beta^{t+1}} + (1 - \beta) \frac{g_t}{1 - \beta^t} & \text{nesterov} \\
      \frac{\mu_t}{1 - \beta^t} & \text{otherwise} \end{cases}

  then, for each matrix :math:`M` of :math:`\hat\mu_t` (after the preconditioning, e.g.
  :math:`M / (\|M\|_F + \epsilon)`), ``ns_steps`` Newton-Schulz iterations

  .. math::
    M \leftarrow a M + (b\, M M^H + c\, (M M^H)^2) M

  with ``ns_coeffs`` :math:`(a, b, c)` (one triple for all steps, or one per step), which
  push every singular value towards 1. With ``adaptive`` the result :math:`O` is scaled by
  :math:`\langle \hat\mu_t, O \rangle`. The state is ``MuonState(count, mu, ns_coeffs)``.

  Args:
    ns_coeffs: :math:`(a, b, c)`, or a sequence of such triples (at most ``ns_steps``).
    ns_steps: Newton-Schulz iterations (ignored with a sequence of triples).
    beta: momentum decay, in ``[0, 1)``.
    eps: added to the norm of the preconditioning, ``>= 0``.
    mu_dtype: storage dtype of the momentum (default: the parameters').
    nesterov: use Nesterov momentum.
    adaptive: scale by the dual norm :math:`\langle \hat\mu, O\rangle`.
    preconditioning: ``'frobenius'``, ``'spectral'``, ``'aol'`` or ``'schatten'``.
    weight_dimension_numbers: None (every leaf a matrix ``W[in, out]``), one
      ``MuonDimensionNumbers``, a tree of them with the parameters' structure (or a prefix),
      or a callable of the updates returning one.

  Returns:
    A ``GradientTransformation``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like import contrib
    >>> tx = contrib.scale_by_muon(ns_coeffs=(1.5, -0.5, 0.0), ns_steps=30, nesterov=False)
    >>> g = jnp.array([[3.0, 0.0], [0.0, 0.5]])
    >>> u, _ = tx.update(g, tx.init(g))
    >>> jnp.round(u, 4).tolist()   # the orthogonal polar factor: the identity
    [[1.0, 0.0], [0.0, 1.0]]
  """
  fn = 'scale_by_muon'
  _check_coeffs(ns_coeffs, ns_steps, fn)
  validation.check_range(beta, 'beta', low=0.0, high=1.0, high_inclusive=False, fn=fn)
  validation.check_range(eps, 'eps', low=0.0, fn=fn)
  _check_preconditioning(preconditioning, fn)
  mu_dtype = _mu_storage_dtype(mu_dtype, fn)

  def init_fn(params):
    coeffs = jnp.asarray(ns_coeffs)
    if coeffs.ndim == 2:
      coeffs = coeffs[-ns_steps:]
    return MuonState(count=jnp.zeros([], jnp.int32),
                     mu=tree.tree_zeros_like(params, mu_dtype),
                     ns_coeffs=coeffs)

  def update_fn(updates, state, params=None):
    del params
    validation.check_state(state, MuonState, fn)
    dims = _leaf_dims(updates, weight_dimension_numbers, fn)
    treedef, gs, mus = adaptive_lib._flatten_with_state(updates, state, ('mu',), fn)  # pylint: disable=protected-access
    gcs = adaptive_lib._upcast_all(gs)  # pylint: disable=protected-access
    count_inc = tree.safe_increment(state.count)
    mu = adaptive_lib._lmap(  # pylint: disable=protected-access
        lambda g, m: moments.update_moment(g, tree.upcast(m), beta), gcs, mus)
    if nesterov:
      ahead = moments.bias_correction(mu, beta, tree.safe_increment(count_inc))
      now = moments.bias_correction(gcs, beta, count_inc)
      mu_hat = adaptive_lib._lmap(lambda m, g: beta * m + (1 - beta) * g, ahead, now)  # pylint: disable=protected-access
    else:
      mu_hat = moments.bias_correction(mu, beta, count_inc)
    paths = _leaf_paths(updates)

    def leaf(g, m, d, path):
      if d is None:
        raise ValueError(f'{fn}: the leaf at {path} has no dimension numbers (None); '
                         'Muon orthogonalises every leaf it is given.')
      o = _orthogonalize(m, d, state.ns_coeffs, ns_steps, preconditioning, eps, f' at {path}')
      if adaptive:
        o = jnp.sum(m.conj() * o) * o
      return tree.cast(o, tree.result_dtype(g))

    new_updates = adaptive_lib._lmap(leaf, gs, mu_hat, dims, paths)  # pylint: disable=protected-access
    new_mu = [o if n is None else tree.cast(n, mu_dtype or tree.result_dtype(o.dtype))
              for n, o in zip(mu, mus)]
    return treedef.unflatten(new_updates), MuonState(
        count=count_inc, mu=treedef.unflatten(new_mu), ns_coeffs=state.ns_coeffs)

  return base.GradientTransformation(init_fn, update_fn)


def _mu_storage_dtype(dtype: Any, fn: str) -> Any:
  return adaptive_lib._storage_dtype(dtype, 'mu_dtype', fn)  # pylint: disable=protected-access


def _scale_by_shape(weight_dimension_numbers: Any,
                    consistent_rms: Optional[chex.Numeric]) -> base.GradientTransformation:
  r"""Multiplies each weight's update by a factor of its shape.

  :math:`\sqrt{\max(1, \text{fan\_out} / \text{fan\_in})}` (width transfer), or with
  ``consistent_rms`` :math:`\rho`: :math:`\rho \sqrt{\max(\text{fan\_in}, \text{fan\_out})}`.
  """
  fn = 'muon'

  def factor(shape, d):
    fan_in, fan_out = _fans(shape, d)
    if consistent_rms is None:
      return jnp.sqrt(jnp.maximum(1, fan_out / fan_in))
    return jnp.sqrt(jnp.maximum(fan_in, fan_out)) * consistent_rms

  def update_fn(updates, state, params=None):
    del params
    dims = _leaf_dims(updates, weight_dimension_numbers, fn)
    treedef, gs = adaptive_lib._flatten_updates(updates)  # pylint: disable=protected-access
    out = [None if g is None or d is None else
           tree.cast(factor(g.shape, d) * tree.upcast(g), tree.result_dtype(g))
           for g, d in zip(gs, dims)]
    return treedef.unflatten(out), state

  return base.GradientTransformation(base.init_empty_state, update_fn)


def muon(
    learning_rate: base.ScalarOrSchedule,
    ns_coeffs: Union[tuple[chex.Numeric, chex.Numeric, chex.Numeric],
                     tuple[tuple[chex.Numeric, chex.Numeric, chex.Numeric], ...],
                     str] = _STANDARD_COEFFS,
    ns_steps: chex.Numeric = 5,
    beta: chex.Numeric = 0.95,
    eps: chex.Numeric = 1e-8,
    weight_decay: chex.Numeric = 0.0,
    weight_decay_mask: Optional[Union[Any, Callable[[base.Params], Any]]] = None,
    mu_dtype: Optional[Any] = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: Literal['frobenius', 'spectral', 'aol', 'schatten'] = 'frobenius',
    adam_b1: chex.Numeric = 0.9,
    adam_b2: chex.Numeric = 0.999,
    adam_eps_root: chex.Numeric = 0.0,
    adam_weight_decay: chex.Numeric = 0.0,
    adam_learning_rate: Optional[base.ScalarOrSchedule] = None,
    muon_weight_dimension_numbers: Any = None,
    consistent_rms: Optional[chex.Numeric] = None,
) -> base.GradientTransformation:
  r"""Muon for the matrix weights, AdamW for the rest (``partition`` by label).

  Matrix weights (by default every 2-D leaf; otherwise the leaves whose entry of
  ``muon_weight_dimension_numbers`` is not None) get

  .. math::
    u = -\eta \big(s\, \mathrm{NS}(\hat\mu_t) + \lambda x\big)

  with :math:`\mathrm{NS}` the orthogonalisation of ``scale_by_muon``, :math:`s` the shape
  factor :math:`\sqrt{\max(1, \text{fan\_out}/\text{fan\_in})}` (or
  :math:`\rho \sqrt{\max(\text{fan\_in}, \text{fan\_out})}` with ``consistent_rms`` :math:`\rho`)
  and :math:`\lambda` = ``weight_decay`` where ``weight_decay_mask`` holds. Every other leaf
  gets ``adamw(adam_learning_rate or learning_rate, adam_b1, adam_b2, eps, adam_eps_root,
  mu_dtype, adam_weight_decay, nesterov=nesterov)``. The state is optax's ``PartitionState``
  with the labels ``'muon'`` and ``'adam'``. Reference: Jordan, `modded-nanogpt
  <https://github.com/KellerJordan/modded-nanogpt>`_, 2024; Liu et al., `Muon is Scalable for
  LLM Training <https://arxiv.org/abs/2502.16982>`_, 2025.

  Args:
    learning_rate: :math:`\eta`, a number or a schedule.
    ns_coeffs: Newton-Schulz coefficients, a triple, a sequence of triples, or a preset name
      (``'standard'``, ``'dion'``).
    ns_steps: Newton-Schulz iterations.
    beta: momentum decay, in ``[0, 1)``.
    eps: Muon's preconditioning epsilon, also Adam's ``eps``.
    weight_decay: :math:`\lambda` for the Muon leaves.
    weight_decay_mask: tree of bools (or callable) selecting the Muon leaves to decay.
    mu_dtype: storage dtype of the momenta.
    nesterov: Nesterov momentum (Muon and Adam).
    adaptive: scale by the dual norm (see ``scale_by_muon``).
    preconditioning: ``'frobenius'``, ``'spectral'``, ``'aol'`` or ``'schatten'``.
    adam_b1: Adam's :math:`\beta_1`.
    adam_b2: Adam's :math:`\beta_2`.
    adam_eps_root: Adam's ``eps_root``.
    adam_weight_decay: AdamW's weight decay.
    adam_learning_rate: Adam's learning rate (default: ``learning_rate``).
    muon_weight_dimension_numbers: a tree (or prefix, or callable of the params) of
      ``MuonDimensionNumbers``; None entries go to Adam. Default: 2-D leaves to Muon.
    consistent_rms: :math:`\rho` of the consistent-RMS scaling, or None for width scaling.

  Returns:
    A ``GradientTransformation`` (a ``partition``).

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_like import contrib
    >>> opt = contrib.muon(0.1, ns_coeffs=(1.5, -0.5, 0.0), ns_steps=30, nesterov=False)
    >>> params = {'w': jnp.zeros((2, 2)), 'b': jnp.zeros(2)}
    >>> grads = {'w': jnp.array([[3.0, 0.0], [0.0, 0.5]]), 'b': jnp.array([2.0, -1.0])}
    >>> u, _ = opt.update(grads, opt.init(params), params)
    >>> jnp.round(u['w'] * 10, 3).tolist()   # -0.1 * I
    [[-1.0, -0.0], [-0.0, -1.0]]
    >>> jnp.round(u['b'] * 10, 3).tolist()   # Adam's first step: -0.1 * sign(g)
    [-1.0, 1.0]
  """
  fn = 'muon'
  validation.check_schedule_or_scalar(learning_rate, 'learning_rate', fn)
  if adam_learning_rate is None:
    adam_learning_rate = learning_rate
  if isinstance(ns_coeffs, str):
    if ns_coeffs not in _PRESETS:
      raise ValueError(f'{fn}: unknown `ns_coeffs` preset {ns_coeffs!r}; the presets are '
                       f'{sorted(_PRESETS)}.')
    ns_coeffs = _PRESETS[ns_coeffs]
  if consistent_rms is not None:
    validation.check_range(consistent_rms, 'consistent_rms', low=0.0, fn=fn)
  spec = muon_weight_dimension_numbers

  def resolve(params):
    return spec(params) if callable(spec) and not _is_dims(spec) else spec

  def labels(params):
    if spec is None:
      return jax.tree.map(lambda x: 'muon' if x.ndim == 2 else 'adam', params)
    dims = resolve(params)
    if _is_dims(dims):
      return jax.tree.map(lambda _: 'muon', params)
    return jax.tree.map(
        lambda d, sub: jax.tree.map(lambda _: 'adam' if d is None else 'muon', sub),
        dims, params, is_leaf=lambda x: x is None or _is_dims(x))

  # Inside the partition the Adam leaves are MaskedNode: the spec needs no masking of its own.
  muon_spec = MuonDimensionNumbers() if spec is None else spec
  return masking.partition(
      transforms={
          'muon': base.chain(
              scale_by_muon(ns_coeffs=ns_coeffs, ns_steps=ns_steps, beta=beta, eps=eps,
                            mu_dtype=mu_dtype, nesterov=nesterov, adaptive=adaptive,
                            preconditioning=preconditioning,
                            weight_dimension_numbers=muon_spec),
              _scale_by_shape(muon_spec, consistent_rms),
              add_decayed_weights(weight_decay, weight_decay_mask),
              scaling.scale_by_learning_rate(learning_rate)),
          'adam': alias.adamw(learning_rate=adam_learning_rate, b1=adam_b1, b2=adam_b2,
                              eps=eps, eps_root=adam_eps_root, weight_decay=adam_weight_decay,
                              mu_dtype=mu_dtype, nesterov=nesterov),
      },
      param_labels=labels)
