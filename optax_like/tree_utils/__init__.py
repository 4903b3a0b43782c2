"""Pytree utilities: optax.tree_utils's names, signatures and numbers.

The math lives in ``optax_like/_src/tree_math.py`` (arithmetic, reductions, casts, random
trees), ``optax_like/_src/state_utils.py`` (finding and replacing entries of optimizer
states, ``tree_map_params``) and ``optax_like/_src/numerics.py`` (the moment helpers the
optimizers use); ``optax_like.tree`` has the same functions without the
``tree_`` prefix.
"""

import functools
import typing
import warnings as _warnings

from optax_like._src.numerics import bias_correction as tree_bias_correction
from optax_like._src.numerics import update_infinity_moment as tree_update_infinity_moment
from optax_like._src.numerics import update_moment as tree_update_moment
from optax_like._src.numerics import update_moment_per_elem_norm as tree_update_moment_per_elem_norm
from optax_like._src.state_utils import NamedTupleKey
from optax_like._src.state_utils import tree_get
from optax_like._src.state_utils import tree_get_all_with_path
from optax_like._src.state_utils import tree_map_params
from optax_like._src.state_utils import tree_set
from optax_like._src.tree_math import tree_add
from optax_like._src.tree_math import tree_add_scale
from optax_like._src.tree_math import tree_allclose
from optax_like._src.tree_math import tree_batch_shape
from optax_like._src.tree_math import tree_cast
from optax_like._src.tree_math import tree_cast_like
from optax_like._src.tree_math import tree_clip
from optax_like._src.tree_math import tree_conj
from optax_like._src.tree_math import tree_div
from optax_like._src.tree_math import tree_dtype
from optax_like._src.tree_math import tree_full_like
from optax_like._src.tree_math import tree_max
from optax_like._src.tree_math import tree_min
from optax_like._src.tree_math import tree_mul
from optax_like._src.tree_math import tree_norm
from optax_like._src.tree_math import tree_ones_like
from optax_like._src.tree_math import tree_random_like
from optax_like._src.tree_math import tree_real
from optax_like._src.tree_math import tree_scale
from optax_like._src.tree_math import tree_size
from optax_like._src.tree_math import tree_split_key_like
from optax_like._src.tree_math import tree_sub
from optax_like._src.tree_math import tree_sum
from optax_like._src.tree_math import tree_unwrap_random_key_data
from optax_like._src.tree_math import tree_vdot
from optax_like._src.tree_math import tree_where
from optax_like._src.tree_math import tree_zeros_like

# Names optax 0.2.8 still answers with a DeprecationWarning: (message, object).
_DEPRECATED = {
    'tree_scalar_mul': ('optax_like.tree_utils.tree_scalar_mul is deprecated: use tree_scale.',
                        tree_scale),
    'tree_add_scalar_mul': ('optax_like.tree_utils.tree_add_scalar_mul is deprecated: use '
                            'tree_add_scale.', tree_add_scale),
    'tree_l1_norm': ('optax_like.tree_utils.tree_l1_norm is deprecated: use '
                     'tree_norm(..., ord=1).', functools.partial(tree_norm, ord=1)),
    'tree_l2_norm': ('optax_like.tree_utils.tree_l2_norm is deprecated: use tree_norm.',
                     functools.partial(tree_norm, ord=2)),
    'tree_linf_norm': ("optax_like.tree_utils.tree_linf_norm is deprecated: use "
                       "tree_norm(..., ord='inf').", functools.partial(tree_norm, ord='inf')),
}


def __getattr__(name):
  if name in _DEPRECATED:
    message, value = _DEPRECATED[name]
    _warnings.warn(message, DeprecationWarning, stacklevel=2)
    return value
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
