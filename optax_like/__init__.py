"""optax_like: composable gradient transformations for JAX.

A drop-in for optax on every name the two share (``import optax_like as optax``), plus the
numerics of tf.keras 2 and tf-models LARS as options of the same transforms
(``keras_sgd``, ``keras_adam``, ``keras_rmsprop``, ``keras_lars``).
"""

from optax_like._src.accumulation import EmaState, TraceState, ema, trace
from optax_like._src.adaptive import (ScaleByAdamState, ScaleByAmsgradState, ScaleByLionState,
                                      ScaleByRmsState, ScaleByRmsWithCountState,
                                      ScaleByRssState, ScaleByRStdDevState,
                                      ScaleByRStdDevWithCountState, scale_by_adam,
                                      scale_by_amsgrad, scale_by_lion, scale_by_rms,
                                      scale_by_rss, scale_by_stddev)
from optax_like._src.alias import (adagrad, adam, adamw, amsgrad, lamb, lars, lion, nadam,
                                   rmsprop, sgd)
from optax_like._src.base import (EmptyState, GradientTransformation,
                                  GradientTransformationExtraArgs, OptState, Params, Schedule,
                                  ScalarOrSchedule, TransformInitFn, TransformUpdateFn, Updates,
                                  identity, init_empty_state, named_chain, set_to_zero,
                                  stateless, with_extra_args_support)
from optax_like._src.clipping import (ClipByGlobalNormState, ClipByNormState, ClipState, clip, clip_by_block_rms,
                                      clip_by_global_norm, clip_by_norm)
from optax_like._src.conditionality import (ApplyIfFiniteState, ConditionallyMaskState,
                                            ConditionallyTransformState, ConditionFn,
                                            apply_if_finite, conditionally_mask,
                                            conditionally_transform)
from optax_like._src.constraining import (NonNegativeParamsState, ZeroNansState,
                                          keep_params_nonnegative, zero_nans)
from optax_like._src.distributed import aggregate_gradients, sharded_global_norm
from optax_like._src.fused import (BucketedState, BucketLayout, bucketed, chain, fast_path, fused_default,
                                   set_fused_default, unbucket_state, update_and_apply)
from optax_like._src.injection import (HyperparamsDict, InjectHyperparamsState,
                                       InjectStatefulHyperparamsState, StatefulSchedule,
                                       WrappedSchedule, inject_hyperparams,
                                       inject_stateful_hyperparams)
from optax_like._src.keras_numerics import (keras_adam, keras_gradient_clipping,
                                            keras_learning_rate, keras_lars, keras_rmsprop,
                                            keras_sgd)
from optax_like._src.layouts import flatten
from optax_like._src.masking import (MaskedNode, MaskedState, MultiTransformState, PartitionState, masked,
                                     multi_transform, partition, regex_mask)
from optax_like._src.multistep import (MultiSteps, MultiStepsState, ShouldSkipUpdateFunction,
                                       skip_large_updates, skip_not_finite)
from optax_like._src.scaling import ScaleByScheduleState, scale, scale_by_learning_rate, scale_by_schedule
from optax_like._src.schedules import (constant_schedule, cosine_decay_schedule, exponential_decay,
                                       join_schedules, linear_schedule, piecewise_constant_schedule,
                                       polynomial_schedule, sgdr_schedule,
                                       warmup_cosine_decay_schedule,
                                       warmup_exponential_decay_schedule)
from optax_like._src.tree import apply_updates, global_norm, incremental_update
from optax_like._src.trust_ratio import ScaleByTrustRatioState, scale_by_trust_ratio
from optax_like._src.zero import zero1, zero1_sharding, zero1_spec
from optax_like._src.weight_decay import (AddDecayedWeightsState, WeightDecaySchedule,
                                          add_decayed_weights)

__version__ = '0.1.0'
