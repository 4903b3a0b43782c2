"""optax.schedules: step-size schedules and hyperparameter injection.

The same objects as the top level of ``optax_like`` (the math lives in ``optax_like/_src``).
"""

from optax_like import InjectHyperparamsState
from optax_like import InjectStatefulHyperparamsState
from optax_like import Schedule
from optax_like import StatefulSchedule
from optax_like import WrappedSchedule
from optax_like import constant_schedule
from optax_like import cosine_decay_schedule
from optax_like import cosine_onecycle_schedule
from optax_like import exponential_decay
from optax_like import inject_hyperparams
from optax_like import inject_stateful_hyperparams
from optax_like import join_schedules
from optax_like import linear_onecycle_schedule
from optax_like import linear_schedule
from optax_like import piecewise_constant_schedule
from optax_like import piecewise_interpolate_schedule
from optax_like import polynomial_schedule
from optax_like import sgdr_schedule
from optax_like import warmup_constant_schedule
from optax_like import warmup_cosine_decay_schedule
from optax_like import warmup_exponential_decay_schedule

__all__ = ['InjectHyperparamsState', 'InjectStatefulHyperparamsState', 'Schedule', 'StatefulSchedule', 'WrappedSchedule', 'constant_schedule', 'cosine_decay_schedule', 'cosine_onecycle_schedule', 'exponential_decay', 'inject_hyperparams', 'inject_stateful_hyperparams', 'join_schedules', 'linear_onecycle_schedule', 'linear_schedule', 'piecewise_constant_schedule', 'piecewise_interpolate_schedule', 'polynomial_schedule', 'sgdr_schedule', 'warmup_constant_schedule', 'warmup_cosine_decay_schedule', 'warmup_exponential_decay_schedule']
