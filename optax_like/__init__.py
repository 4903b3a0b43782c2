"""optax_like: composable gradient transformations for JAX.

A drop-in for optax on every name the two share (``import optax_like as optax``), plus the
numerics of tf.keras 2 and tf-models LARS as options of the same transforms
(``keras_sgd``, ``keras_adam``, ``keras_rmsprop``, ``keras_lars``).
"""

from optax_like._src.accumulation import EmaState
from optax_like._src.accumulation import TraceState
from optax_like._src.accumulation import ema
from optax_like._src.accumulation import trace
from optax_like._src.adaptive import ScaleByAdamState
from optax_like._src.adaptive import ScaleByAmsgradState
from optax_like._src.adaptive import ScaleByLionState
from optax_like._src.adaptive import ScaleByRStdDevState
from optax_like._src.adaptive import ScaleByRStdDevWithCountState
from optax_like._src.adaptive import ScaleByRmsState
from optax_like._src.adaptive import ScaleByRmsWithCountState
from optax_like._src.adaptive import ScaleByRssState
from optax_like._src.adaptive import scale_by_adam
from optax_like._src.adaptive import scale_by_amsgrad
from optax_like._src.adaptive import scale_by_lion
from optax_like._src.adaptive import scale_by_rms
from optax_like._src.adaptive import scale_by_rss
from optax_like._src.adaptive import scale_by_stddev
from optax_like._src.alias import adagrad
from optax_like._src.alias import adam
from optax_like._src.alias import adamw
from optax_like._src.alias import amsgrad
from optax_like._src.alias import lamb
from optax_like._src.alias import lars
from optax_like._src.alias import lion
from optax_like._src.alias import nadam
from optax_like._src.alias import rmsprop
from optax_like._src.alias import sgd
from optax_like._src.base import EmptyState
from optax_like._src.base import GradientTransformation
from optax_like._src.base import GradientTransformationExtraArgs
from optax_like._src.base import OptState
from optax_like._src.base import Params
from optax_like._src.base import ScalarOrSchedule
from optax_like._src.base import Schedule
from optax_like._src.base import TransformInitFn
from optax_like._src.base import TransformUpdateFn
from optax_like._src.base import Updates
from optax_like._src.base import chain
from optax_like._src.base import identity
from optax_like._src.base import init_empty_state
from optax_like._src.base import named_chain
from optax_like._src.base import set_to_zero
from optax_like._src.base import stateless
from optax_like._src.base import with_extra_args_support
from optax_like._src.clipping import ClipByGlobalNormState
from optax_like._src.clipping import ClipByNormState
from optax_like._src.clipping import ClipState
from optax_like._src.clipping import GlobalNormReport
from optax_like._src.clipping import clip
from optax_like._src.clipping import clip_by_block_rms
from optax_like._src.clipping import clip_by_global_norm
from optax_like._src.clipping import clip_by_norm
from optax_like._src.conditionality import ApplyIfFiniteState
from optax_like._src.conditionality import ConditionFn
from optax_like._src.conditionality import ConditionallyMaskState
from optax_like._src.conditionality import ConditionallyTransformState
from optax_like._src.conditionality import apply_if_finite
from optax_like._src.conditionality import conditionally_mask
from optax_like._src.conditionality import conditionally_transform
from optax_like._src.constraining import NonNegativeParamsState
from optax_like._src.constraining import ZeroNansState
from optax_like._src.constraining import keep_params_nonnegative
from optax_like._src.constraining import zero_nans
from optax_like._src.distributed import aggregate_gradients
from optax_like._src.distributed import sharded_global_norm
from optax_like._src.fused import fused
from optax_like._src.fused import to_fused_state
from optax_like._src.fused import to_optax_state
from optax_like._src.fused import update_and_apply
from optax_like._src.injection import InjectHyperparamsState
from optax_like._src.injection import InjectStatefulHyperparamsState
from optax_like._src.injection import StatefulSchedule
from optax_like._src.injection import WrappedSchedule
from optax_like._src.injection import inject_hyperparams
from optax_like._src.injection import inject_stateful_hyperparams
from optax_like._src.keras_numerics import keras_adam
from optax_like._src.keras_numerics import keras_gradient_clipping
from optax_like._src.keras_numerics import keras_lars
from optax_like._src.keras_numerics import keras_learning_rate
from optax_like._src.keras_numerics import keras_rmsprop
from optax_like._src.keras_numerics import keras_sgd
from optax_like._src.layouts import flatten
from optax_like._src.masking import MaskedNode
from optax_like._src.masking import MaskedState
from optax_like._src.masking import MultiTransformState
from optax_like._src.masking import PartitionState
from optax_like._src.masking import masked
from optax_like._src.masking import multi_transform
from optax_like._src.masking import partition
from optax_like._src.masking import regex_mask
from optax_like._src.multistep import MultiSteps
from optax_like._src.multistep import MultiStepsState
from optax_like._src.multistep import ShouldSkipUpdateFunction
from optax_like._src.multistep import skip_large_updates
from optax_like._src.multistep import skip_not_finite
from optax_like._src.scaling import ScaleByScheduleState
from optax_like._src.scaling import scale
from optax_like._src.scaling import scale_by_learning_rate
from optax_like._src.scaling import scale_by_schedule
from optax_like._src.schedules import constant_schedule
from optax_like._src.schedules import cosine_decay_schedule
from optax_like._src.schedules import exponential_decay
from optax_like._src.schedules import join_schedules
from optax_like._src.schedules import linear_schedule
from optax_like._src.schedules import piecewise_constant_schedule
from optax_like._src.schedules import polynomial_schedule
from optax_like._src.schedules import sgdr_schedule
from optax_like._src.schedules import warmup_cosine_decay_schedule
from optax_like._src.schedules import warmup_exponential_decay_schedule
from optax_like._src.tree import apply_updates
from optax_like._src.tree import global_norm
from optax_like._src.tree import incremental_update
from optax_like._src.trust_ratio import ScaleByTrustRatioState
from optax_like._src.trust_ratio import TrustRatioReport
from optax_like._src.trust_ratio import scale_by_trust_ratio
from optax_like._src.weight_decay import AddDecayedWeightsState
from optax_like._src.weight_decay import WeightDecaySchedule
from optax_like._src.weight_decay import add_decayed_weights
from optax_like._src.zero import zero1
from optax_like._src.zero import zero1_sharding
from optax_like._src.zero import zero1_spec

__version__ = '0.1.0'

__all__ = [
    'AddDecayedWeightsState',
    'ApplyIfFiniteState',
    'ClipByGlobalNormState',
    'ClipByNormState',
    'ClipState',
    'ConditionFn',
    'ConditionallyMaskState',
    'ConditionallyTransformState',
    'EmaState',
    'EmptyState',
    'GradientTransformation',
    'GlobalNormReport',
    'GradientTransformationExtraArgs',
    'InjectHyperparamsState',
    'InjectStatefulHyperparamsState',
    'MaskedNode',
    'MaskedState',
    'MultiSteps',
    'MultiStepsState',
    'MultiTransformState',
    'NonNegativeParamsState',
    'OptState',
    'Params',
    'PartitionState',
    'ScalarOrSchedule',
    'ScaleByAdamState',
    'ScaleByAmsgradState',
    'ScaleByLionState',
    'ScaleByRStdDevState',
    'ScaleByRStdDevWithCountState',
    'ScaleByRmsState',
    'ScaleByRmsWithCountState',
    'ScaleByRssState',
    'ScaleByScheduleState',
    'ScaleByTrustRatioState',
    'Schedule',
    'ShouldSkipUpdateFunction',
    'StatefulSchedule',
    'TraceState',
    'TrustRatioReport',
    'TransformInitFn',
    'TransformUpdateFn',
    'Updates',
    'WeightDecaySchedule',
    'WrappedSchedule',
    'ZeroNansState',
    'adagrad',
    'adam',
    'adamw',
    'add_decayed_weights',
    'aggregate_gradients',
    'amsgrad',
    'apply_if_finite',
    'apply_updates',
    'chain',
    'clip',
    'clip_by_block_rms',
    'clip_by_global_norm',
    'clip_by_norm',
    'conditionally_mask',
    'conditionally_transform',
    'constant_schedule',
    'cosine_decay_schedule',
    'ema',
    'exponential_decay',
    'flatten',
    'fused',
    'global_norm',
    'identity',
    'incremental_update',
    'init_empty_state',
    'inject_hyperparams',
    'inject_stateful_hyperparams',
    'join_schedules',
    'keep_params_nonnegative',
    'keras_adam',
    'keras_gradient_clipping',
    'keras_lars',
    'keras_learning_rate',
    'keras_rmsprop',
    'keras_sgd',
    'lamb',
    'lars',
    'linear_schedule',
    'lion',
    'masked',
    'multi_transform',
    'nadam',
    'named_chain',
    'partition',
    'piecewise_constant_schedule',
    'polynomial_schedule',
    'regex_mask',
    'rmsprop',
    'scale',
    'scale_by_adam',
    'scale_by_amsgrad',
    'scale_by_learning_rate',
    'scale_by_lion',
    'scale_by_rms',
    'scale_by_rss',
    'scale_by_schedule',
    'scale_by_stddev',
    'scale_by_trust_ratio',
    'set_to_zero',
    'sgd',
    'sgdr_schedule',
    'sharded_global_norm',
    'skip_large_updates',
    'skip_not_finite',
    'stateless',
    'to_fused_state',
    'to_optax_state',
    'trace',
    'update_and_apply',
    'warmup_cosine_decay_schedule',
    'warmup_exponential_decay_schedule',
    'with_extra_args_support',
    'zero1',
    'zero1_sharding',
    'zero1_spec',
    'zero_nans',
]
