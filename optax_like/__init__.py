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
from optax_like._src.base import MaskOrFn
from optax_like._src.base import OptState
from optax_like._src.base import Params
from optax_like._src.base import ScalarOrSchedule
from optax_like._src.base import ScaleState
from optax_like._src.base import Schedule
from optax_like._src.base import TransformInitFn
from optax_like._src.base import TransformUpdateExtraArgsFn
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
from optax_like._src.keras_numerics import keras_adadelta
from optax_like._src.keras_numerics import keras_adagrad
from optax_like._src.keras_numerics import keras_adam
from optax_like._src.keras_numerics import keras_adamax
from optax_like._src.keras_numerics import keras_ftrl
from optax_like._src.keras_numerics import keras_gradient_clipping
from optax_like._src.keras_numerics import keras_lars
from optax_like._src.keras_numerics import keras_nadam
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

# Names added for issue 10 / 11, one block per module family. Each block is edited only by the
# work on that family; every import is one line, and __all__ below is derived from them.
# [optimizers-adaptive]
from optax_like._src.alias_adaptive import adabelief
from optax_like._src.alias_adaptive import adadelta
from optax_like._src.alias_adaptive import adamax
from optax_like._src.alias_adaptive import adamaxw
from optax_like._src.alias_adaptive import adan
from optax_like._src.alias_adaptive import nadamw
from optax_like._src.alias_adaptive import novograd
from optax_like._src.alias_adaptive import radam
from optax_like._src.alias_adaptive import yogi
from optax_like._src.adaptive_variants import ScaleByAdaDeltaState
from optax_like._src.adaptive_variants import ScaleByAdanState
from optax_like._src.adaptive_variants import ScaleByBeliefState
from optax_like._src.adaptive_variants import ScaleByNovogradState
from optax_like._src.adaptive_variants import scale_by_adadelta
from optax_like._src.adaptive_variants import scale_by_adamax
from optax_like._src.adaptive_variants import scale_by_adan
from optax_like._src.adaptive_variants import scale_by_belief
from optax_like._src.adaptive_variants import scale_by_novograd
from optax_like._src.adaptive_variants import scale_by_radam
from optax_like._src.adaptive_variants import scale_by_yogi
from optax_like._src.numerics import bias_correction
from optax_like._src.numerics import safe_increment
from optax_like._src.numerics import safe_int32_increment
from optax_like._src.numerics import safe_norm
from optax_like._src.numerics import safe_root_mean_squares
from optax_like._src.numerics import update_infinity_moment
from optax_like._src.numerics import update_moment
from optax_like._src.numerics import update_moment_per_elem_norm
# [end optimizers-adaptive]
# [optimizers-other]
from optax_like._src.alias_other import adafactor
from optax_like._src.alias_other import fromage
from optax_like._src.alias_other import noisy_sgd
from optax_like._src.alias_other import optimistic_adam
from optax_like._src.alias_other import optimistic_adam_v2
from optax_like._src.alias_other import optimistic_gradient_descent
from optax_like._src.alias_other import polyak_sgd
from optax_like._src.alias_other import rprop
from optax_like._src.alias_other import sign_sgd
from optax_like._src.alias_other import signum
from optax_like._src.alias_other import sm3
from optax_like._src.backward import scale_gradient
from optax_like._src.factorized import FactoredState
from optax_like._src.factorized import scale_by_factored_rms
from optax_like._src.noise import AddNoiseState
from optax_like._src.noise import add_noise
from optax_like._src.normalization import centralize
from optax_like._src.normalization import normalize_by_update_norm
from optax_like._src.optimistic import scale_by_optimistic_gradient
from optax_like._src.param_scaling import scale_by_param_block_norm
from optax_like._src.param_scaling import scale_by_param_block_rms
from optax_like._src.parameter_free import scale_by_distance_over_gradients
from optax_like._src.parameter_free import scale_by_polyak
from optax_like._src.sign import ScaleByRpropState
from optax_like._src.sign import scale_by_rprop
from optax_like._src.sign import scale_by_sign
from optax_like._src.sm3 import ScaleBySM3State
from optax_like._src.sm3 import scale_by_sm3
# [end optimizers-other]
# [lbfgs-linesearch-linalg]
from optax_like._src.distributions import MultiNormalDiagFromLogScale
from optax_like._src.distributions import multi_normal
from optax_like._src.lbfgs import ScaleByLBFGSState
from optax_like._src.lbfgs import lbfgs
from optax_like._src.lbfgs import scale_by_lbfgs
from optax_like._src.linear_algebra import matrix_inverse_pth_root
from optax_like._src.linear_algebra import nnls
from optax_like._src.linear_algebra import power_iteration
from optax_like._src.linesearch import ScaleByBacktrackingLinesearchState
from optax_like._src.linesearch import ScaleByZoomLinesearchState
from optax_like._src.linesearch import ZoomLinesearchInfo
from optax_like._src.linesearch import scale_by_backtracking_linesearch
from optax_like._src.linesearch import scale_by_zoom_linesearch
from optax_like._src.linesearch import value_and_grad_from_state
# [end lbfgs-linesearch-linalg]
# [wrappers-schedules-microbatching]
from optax_like._src.freezing import freeze
from optax_like._src.freezing import selective_transform
from optax_like._src.lookahead import LookaheadParams
from optax_like._src.lookahead import LookaheadState
from optax_like._src.lookahead import lookahead
from optax_like._src.microbatching import microbatch
from optax_like._src.monitoring import MonitorState
from optax_like._src.monitoring import SnapshotState
from optax_like._src.monitoring import measure_with_ema
from optax_like._src.monitoring import monitor
from optax_like._src.monitoring import snapshot
from optax_like._src.per_example_clipping import per_example_global_norm_clip
from optax_like._src.per_example_clipping import per_example_layer_norm_clip
from optax_like._src.periodic import ApplyEvery
from optax_like._src.periodic import apply_every
from optax_like._src.periodic import periodic_update
from optax_like._src.tree_map_transform import stateless_with_tree_map
from optax_like._src.unitwise_clipping import AdaptiveGradClipState
from optax_like._src.unitwise_clipping import adaptive_grad_clip
from optax_like import microbatching  # optax.microbatching, reached as an attribute
# [end wrappers-schedules-microbatching]
# [losses-projections]
from optax_like import losses
from optax_like import projections
from optax_like._src.losses.classification import hinge_loss
from optax_like._src.losses.classification import safe_softmax_cross_entropy
from optax_like._src.losses.classification import sigmoid_binary_cross_entropy
from optax_like._src.losses.classification import sigmoid_focal_loss
from optax_like._src.losses.classification import softmax_cross_entropy
from optax_like._src.losses.classification import softmax_cross_entropy_with_integer_labels
from optax_like._src.losses.ctc import ctc_loss
from optax_like._src.losses.ctc import ctc_loss_with_forward_probs
from optax_like._src.losses.divergences import convex_kl_divergence
from optax_like._src.losses.divergences import generalized_kl_divergence
from optax_like._src.losses.divergences import kl_divergence
from optax_like._src.losses.regression import cosine_distance
from optax_like._src.losses.regression import cosine_similarity
from optax_like._src.losses.regression import huber_loss
from optax_like._src.losses.regression import l2_loss
from optax_like._src.losses.regression import log_cosh
from optax_like._src.losses.regression import squared_error
from optax_like._src.losses.self_supervised import ntxent
from optax_like._src.losses.smoothing import smooth_labels
# [end losses-projections]
# [tree-second-order-perturbations-assignment]
from optax_like import assignment
from optax_like import perturbations
from optax_like import second_order
from optax_like import tree
from optax_like import tree_utils
from optax_like._src.schedules import cosine_onecycle_schedule
from optax_like._src.schedules import linear_onecycle_schedule
from optax_like._src.schedules import piecewise_interpolate_schedule
from optax_like._src.schedules import warmup_constant_schedule
from optax_like._src.state_utils import tree_map_params
# [end tree-second-order-perturbations-assignment]

# optax's public submodules, reached as attributes (``optax_like.contrib.muon``).
from optax_like import contrib
from optax_like import schedules
from optax_like import transforms

import types as _types
import warnings as _warnings

# optax's deprecated top-level aliases of contrib names: reachable, with optax's warning.
_DEPRECATED = {
    'differentially_private_aggregate': 'optax_like.contrib.differentially_private_aggregate',
    'DifferentiallyPrivateAggregateState': 'optax_like.contrib.DifferentiallyPrivateAggregateState',
    'dpsgd': 'optax_like.contrib.dpsgd',
}


def __getattr__(name):
  if name in _DEPRECATED:
    _warnings.warn(f'optax_like.{name} is deprecated (as in optax): use {_DEPRECATED[name]}.',
                   DeprecationWarning, stacklevel=2)
    return getattr(contrib, name)
  raise AttributeError(f"module 'optax_like' has no attribute {name!r}")


__version__ = '0.1.0'

# Every public name imported above (submodules such as ``optax_like.keras`` are reached as
# attributes, not listed).
__all__ = sorted(_name for _name, _value in dict(globals()).items()
                 if not _name.startswith('_') and not isinstance(_value, _types.ModuleType))
