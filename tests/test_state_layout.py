"""Every transformation and wrapper we share with optax starts from optax's state layout.

The names are enumerated from optax itself: every public optax function whose return
annotation is a ``GradientTransformation`` (or, for ``inject_hyperparams``, a factory of one)
and that ``optax_like`` also exports. Each is built in both libraries from the same arguments,
chosen by parameter name (``ARGUMENTS``), and its state is compared node by node after
``init``, after a jitted ``update`` and for a traced ``init``: key paths, container class names,
leaf shapes and dtypes (``differential.layout``). A new shared name whose parameters have no
entry in ``ARGUMENTS`` fails here, so nothing is skipped silently.
"""

import inspect
import warnings

import jax
import jax.numpy as jnp
import optax
import pytest

import optax_like as ox
from differential import assert_same_layout

PARAMS = {'dense': {'kernel': jnp.ones((3, 2)), 'bias': jnp.zeros(2)},
          'blocks': [jnp.full((2, 2), 0.5, jnp.bfloat16), jnp.asarray(2.0)]}
MASK = {'dense': {'kernel': True, 'bias': False}, 'blocks': [True, False]}
LABELS = {'dense': {'kernel': 'a', 'bias': 'b'}, 'blocks': ['a', 'b']}

# Values for parameters without a default, by name; each builds the argument from the library
# (``lib`` is ``optax`` or ``optax_like``) so each side gets its own inner transformations.
ARGUMENTS = {
    'learning_rate': lambda lib: 0.1,
    'max_delta': lambda lib: 1.0,
    'max_norm': lambda lib: 1.0,
    'threshold': lambda lib: 1.0,
    'step_size': lambda lib: 0.5,
    'decay': lambda lib: 0.9,
    'step_size_fn': lambda lib: lib.linear_schedule(1.0, 0.5, 10),
    'inner': lambda lib: lib.sgd(0.1, momentum=0.9),
    'tx': lambda lib: lib.adam(0.1),
    'max_consecutive_errors': lambda lib: 2,
    'should_transform_fn': lambda lib: (lambda step: step % 2 == 0),
    'mask': lambda lib: MASK,
    'transforms': lambda lib: {'a': lib.adam(0.1), 'b': lib.sgd(0.1, momentum=0.9)},
    'param_labels': lambda lib: LABELS,
    'f': lambda lib: (lambda updates, params: updates),
    'inner_factory': lambda lib: lib.adam,
    'clipping': lambda lib: 0.5,                       # adaptive_grad_clip
    'measure': lambda lib: lib.global_norm,            # measure_with_ema, snapshot
    'measure_name': lambda lib: 'norm',                # snapshot
    'optimizer': lambda lib: lib.adam(0.1),            # selective_transform
    'freeze_mask': lambda lib: MASK,                   # selective_transform
    'eta': lambda lib: 0.01,                           # add_noise
    'gamma': lambda lib: 0.55,                         # add_noise
    'max_backtracking_steps': lambda lib: 5,           # scale_by_backtracking_linesearch
    'max_linesearch_steps': lambda lib: 5,             # scale_by_zoom_linesearch
}
# Keyword arguments of ``update`` that a transformation requires, by name.
UPDATE_KWARGS = {
    'polyak_sgd': dict(value=jnp.asarray(1.0)),        # Polyak's step reads the loss
    'scale_by_polyak': dict(value=jnp.asarray(1.0)),
}
# Line searches (and lbfgs, which ends with one) read the objective: its value and gradient at
# the params and the objective itself, as a ``Partial`` so that it passes through ``jax.jit``.
_LINESEARCH_KWARGS = dict(
    value=jnp.asarray(1.0),
    grad=jax.tree.map(lambda p: (p * 0.5 + 0.25).astype(p.dtype), PARAMS),
    value_fn=jax.tree_util.Partial(
        lambda p: sum(jnp.sum(jnp.square(x.astype(jnp.float32))) for x in jax.tree.leaves(p))))
UPDATE_KWARGS.update({name: _LINESEARCH_KWARGS for name in (
    'lbfgs', 'scale_by_backtracking_linesearch', 'scale_by_zoom_linesearch')})
# Transformations that optax cannot update on a scalar (rank-0) leaf (SM3 keeps one
# accumulator per axis; optax raises IndexError): compared on PARAMS without that leaf.
NO_SCALAR_LEAVES = {'sm3', 'scale_by_sm3'}
PARAMS_WITHOUT_SCALARS = {'dense': PARAMS['dense'], 'blocks': PARAMS['blocks'][:1]}
# Variadic builders: their positional arguments.
VARARGS = {
    'chain': lambda lib: (lib.clip_by_global_norm(1.0), lib.adam(0.1)),
    'named_chain': lambda lib: (('clip', lib.clip_by_global_norm(1.0)),
                                ('opt', lib.sgd(0.1, momentum=0.9))),
}
# Builders of a factory rather than of a transformation: the factory's arguments.
FACTORY_ARGUMENTS = {
    'inject_hyperparams': dict(learning_rate=0.1),
    'inject_stateful_hyperparams': dict(learning_rate=0.1),
}
# Classes that wrap an optimizer (not functions): how each side builds the transformation.
WRAPPER_CLASSES = {
    'MultiSteps': lambda lib: lib.MultiSteps(lib.adam(0.1), every_k_schedule=2)
                              .gradient_transformation(),
    # lookahead optimizes LookaheadParams(fast, slow): here both start as PARAMS.
    'lookahead': lambda lib: _on_synced_params(
        lib, lib.lookahead(lib.sgd(0.1, momentum=0.9), sync_period=2, slow_step_size=0.5)),
}


def _on_synced_params(lib, tx):
  synced = lib.LookaheadParams.init_synced
  return lib.GradientTransformation(lambda p: tx.init(synced(p)),
                                    lambda u, s, p=None: tx.update(u, s, synced(p)))


def _builds_a_transformation(fn) -> bool:
  try:
    returns = str(inspect.signature(fn).return_annotation)
  except (TypeError, ValueError):
    return False
  return 'GradientTransformation' in returns


def shared_builders():
  """optax's public builders of a transformation (or of a factory of one) that we export."""
  return sorted(name for name in {n for n in dir(optax) if not n.startswith('_')} & set(ox.__all__)
                if callable(getattr(optax, name)) and not isinstance(getattr(optax, name), type)
                and _builds_a_transformation(getattr(optax, name)))


BUILDERS = shared_builders()


def build(lib, name):
  if name in WRAPPER_CLASSES:
    return WRAPPER_CLASSES[name](lib)
  fn = getattr(lib, name)
  if name in VARARGS:
    return fn(*VARARGS[name](lib))
  kwargs = {}
  for p in inspect.signature(getattr(optax, name)).parameters.values():
    if p.default is inspect.Parameter.empty and p.kind is not p.VAR_POSITIONAL:
      assert p.name in ARGUMENTS, f'{name}: add a value for its parameter {p.name!r} to ARGUMENTS'
      kwargs[p.name] = ARGUMENTS[p.name](lib)
  with warnings.catch_warnings():
    warnings.simplefilter('ignore', DeprecationWarning)   # inject_stateful_hyperparams
    built = fn(**kwargs)
  if name in FACTORY_ARGUMENTS:
    built = built(**FACTORY_ARGUMENTS[name])
  return built


def test_the_enumeration_finds_transforms_wrappers_and_optimizers():
  expected = {'adam', 'sgd', 'lars', 'clip_by_global_norm', 'scale_by_trust_ratio', 'trace',
              'ema', 'masked', 'multi_transform', 'apply_if_finite', 'inject_hyperparams',
              'chain', 'named_chain', 'flatten', 'add_decayed_weights', 'scale_by_adam'}
  assert expected <= set(BUILDERS), expected - set(BUILDERS)


@pytest.mark.parametrize('name', sorted(set(BUILDERS) | set(WRAPPER_CLASSES)))
def test_state_layout_is_optaxs(name):
  ours, theirs = build(ox, name), build(optax, name)
  params = PARAMS_WITHOUT_SCALARS if name in NO_SCALAR_LEAVES else PARAMS
  expected = theirs.init(params)
  assert_same_layout(ours.init(params), expected, f'{name} init')
  assert_same_layout(jax.eval_shape(ours.init, params), expected, f'{name} traced init')
  grads = jax.tree.map(lambda p: (p * 0.5 + 0.25).astype(p.dtype), params)
  kwargs = UPDATE_KWARGS.get(name, {})
  _, stepped = jax.jit(ours.update)(grads, ours.init(params), params, **kwargs)
  _, expected_stepped = jax.jit(theirs.update)(grads, expected, params, **kwargs)
  if name in KEEPS_INIT_DTYPES:
    expected_stepped = expected
  assert_same_layout(stepped, expected_stepped, f'{name} after update')


# Documented difference: optax's injected hyperparameters are float32 arrays (not weakly typed),
# so its first update promotes bfloat16 moments to float32 and the state changes dtype after
# one step (and the step compiles twice). Ours keep the dtypes of init, which are optax's.
KEEPS_INIT_DTYPES = {'inject_hyperparams', 'inject_stateful_hyperparams'}
