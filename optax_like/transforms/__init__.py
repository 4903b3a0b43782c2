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
from optax_like import MultiSteps
from optax_like import MultiStepsState
from optax_like import NonNegativeParamsState
from optax_like import PartitionState
from optax_like import ShouldSkipUpdateFunction
from optax_like import TraceState
from optax_like import ZeroNansState
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
from optax_like import keep_params_nonnegative
from optax_like import masked
from optax_like import named_chain
from optax_like import partition
from optax_like import skip_large_updates
from optax_like import skip_not_finite
from optax_like import trace
from optax_like import zero_nans

__all__ = ['ApplyIfFiniteState', 'ConditionFn', 'ConditionallyMaskState', 'ConditionallyTransformState', 'EmaState', 'MaskedNode', 'MaskedState', 'MultiSteps', 'MultiStepsState', 'NonNegativeParamsState', 'PartitionState', 'ShouldSkipUpdateFunction', 'TraceState', 'ZeroNansState', 'add_decayed_weights', 'apply_if_finite', 'chain', 'clip', 'clip_by_block_rms', 'clip_by_global_norm', 'conditionally_mask', 'conditionally_transform', 'ema', 'flatten', 'keep_params_nonnegative', 'masked', 'named_chain', 'partition', 'skip_large_updates', 'skip_not_finite', 'trace', 'zero_nans']
