"""optax.transforms: gradient transformations and the wrappers that combine them.

The same objects as the top level of ``optax_like`` (the math lives in ``optax_like/_src``).
"""

from optax_like import ApplyIfFiniteState
from optax_like import ConditionFn
from optax_like import ConditionallyMaskState
from optax_like import ConditionallyTransformState
from optax_like import EmaState
from optax_like import MaskedNode
from optax_like import MaskedState
from optax_like import MonitorState
from optax_like import MultiSteps
from optax_like import MultiStepsState
from optax_like import NonNegativeParamsState
from optax_like import PartitionState
from optax_like import ShouldSkipUpdateFunction
from optax_like import SnapshotState
from optax_like import TraceState
from optax_like import ZeroNansState
from optax_like import adaptive_grad_clip
from optax_like import add_decayed_weights
from optax_like import apply_if_finite
from optax_like import chain
from optax_like import clip
from optax_like import clip_by_block_rms
from optax_like import clip_by_global_norm
from optax_like import conditionally_mask
from optax_like import conditionally_transform
from optax_like import ema
from optax_like import flatten
from optax_like import freeze
from optax_like import keep_params_nonnegative
from optax_like import masked
from optax_like import measure_with_ema
from optax_like import monitor
from optax_like import named_chain
from optax_like import partition
from optax_like import per_example_global_norm_clip
from optax_like import per_example_layer_norm_clip
from optax_like import selective_transform
from optax_like import skip_large_updates
from optax_like import skip_not_finite
from optax_like import snapshot
from optax_like import trace
from optax_like import zero_nans
from optax_like._src.unitwise_clipping import unitwise_clip  # optax.transforms only
from optax_like._src.unitwise_clipping import unitwise_norm  # optax.transforms only

__all__ = ['ApplyIfFiniteState', 'ConditionFn', 'ConditionallyMaskState', 'ConditionallyTransformState', 'EmaState', 'MaskedNode', 'MaskedState', 'MonitorState', 'MultiSteps', 'MultiStepsState', 'NonNegativeParamsState', 'PartitionState', 'ShouldSkipUpdateFunction', 'SnapshotState', 'TraceState', 'ZeroNansState', 'adaptive_grad_clip', 'add_decayed_weights', 'apply_if_finite', 'chain', 'clip', 'clip_by_block_rms', 'clip_by_global_norm', 'conditionally_mask', 'conditionally_transform', 'ema', 'flatten', 'freeze', 'keep_params_nonnegative', 'masked', 'measure_with_ema', 'monitor', 'named_chain', 'partition', 'per_example_global_norm_clip', 'per_example_layer_norm_clip', 'selective_transform', 'skip_large_updates', 'skip_not_finite', 'snapshot', 'trace', 'zero_nans', 'unitwise_clip', 'unitwise_norm']
