"""Pytree utilities under short names: optax.tree's names (``optax_like.tree.add`` is
``optax_like.tree_utils.tree_add``, the same object)."""

from optax_like._src import numerics as _numerics
from optax_like._src import state_utils as _state_utils
from optax_like._src import tree_math as _tree_math

add = _tree_math.tree_add
add_scale = _tree_math.tree_add_scale
allclose = _tree_math.tree_allclose
batch_shape = _tree_math.tree_batch_shape
bias_correction = _numerics.bias_correction
cast = _tree_math.tree_cast
cast_like = _tree_math.tree_cast_like
clip = _tree_math.tree_clip
conj = _tree_math.tree_conj
div = _tree_math.tree_div
dtype = _tree_math.tree_dtype
full_like = _tree_math.tree_full_like
get = _state_utils.tree_get
get_all_with_path = _state_utils.tree_get_all_with_path
map_params = _state_utils.tree_map_params
max = _tree_math.tree_max  # pylint: disable=redefined-builtin
min = _tree_math.tree_min  # pylint: disable=redefined-builtin
mul = _tree_math.tree_mul
norm = _tree_math.tree_norm
ones_like = _tree_math.tree_ones_like
random_like = _tree_math.tree_random_like
real = _tree_math.tree_real
scale = _tree_math.tree_scale
set = _state_utils.tree_set  # pylint: disable=redefined-builtin
size = _tree_math.tree_size
split_key_like = _tree_math.tree_split_key_like
sub = _tree_math.tree_sub
sum = _tree_math.tree_sum  # pylint: disable=redefined-builtin
unwrap_random_key_data = _tree_math.tree_unwrap_random_key_data
update_infinity_moment = _numerics.update_infinity_moment
update_moment = _numerics.update_moment
update_moment_per_elem_norm = _numerics.update_moment_per_elem_norm
vdot = _tree_math.tree_vdot
where = _tree_math.tree_where
zeros_like = _tree_math.tree_zeros_like
