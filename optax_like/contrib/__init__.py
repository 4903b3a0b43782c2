"""Contributed optimizers and transforms: optax.contrib's names, signatures, states and numbers.

Each method lives in its own module under ``optax_like/_src/contrib/``; its docstring gives the
update rule and the paper.
"""

# Each block is edited only by the work on that group; one import per line.
# [contrib-1]
from optax_like._src.contrib.cocob import COCOBState
from optax_like._src.contrib.cocob import cocob
from optax_like._src.contrib.cocob import scale_by_cocob
from optax_like._src.contrib.dadapt_adamw import DAdaptAdamWState
from optax_like._src.contrib.dadapt_adamw import dadapt_adamw
from optax_like._src.contrib.dog import DoGState
from optax_like._src.contrib.dog import DoWGState
from optax_like._src.contrib.dog import dog
from optax_like._src.contrib.dog import dowg
from optax_like._src.contrib.mechanic import MechanicState
from optax_like._src.contrib.mechanic import mechanize
from optax_like._src.contrib.muon import MuonDimensionNumbers
from optax_like._src.contrib.muon import MuonState
from optax_like._src.contrib.muon import muon
from optax_like._src.contrib.muon import scale_by_muon
from optax_like._src.contrib.prodigy import ProdigyState
from optax_like._src.contrib.prodigy import prodigy
from optax_like._src.contrib.reduce_on_plateau import ReduceLROnPlateauState
from optax_like._src.contrib.reduce_on_plateau import reduce_on_plateau
from optax_like._src.contrib.sam import SAMState
from optax_like._src.contrib.sam import sam
from optax_like._src.contrib.schedule_free import ScheduleFreeState
from optax_like._src.contrib.schedule_free import schedule_free
from optax_like._src.contrib.schedule_free import schedule_free_adamw
from optax_like._src.contrib.schedule_free import schedule_free_eval_params
from optax_like._src.contrib.schedule_free import schedule_free_sgd
# [end contrib-1]
# [contrib-2]
from optax_like._src.contrib.acprop import acprop
from optax_like._src.contrib.acprop import scale_by_acprop
from optax_like._src.contrib.ademamix import ScaleByAdemamixState
from optax_like._src.contrib.ademamix import ScaleBySimplifiedAdEMAMixState
from optax_like._src.contrib.ademamix import ademamix
from optax_like._src.contrib.ademamix import scale_by_ademamix
from optax_like._src.contrib.ademamix import scale_by_simplified_ademamix
from optax_like._src.contrib.ademamix import simplified_ademamix
from optax_like._src.contrib.adopt import adopt
from optax_like._src.contrib.adopt import scale_by_adopt
from optax_like._src.contrib.complex_valued import SplitRealAndImaginaryState
from optax_like._src.contrib.complex_valued import split_real_and_imaginary
from optax_like._src.contrib.galore import GaLoreDimensionNumbers
from optax_like._src.contrib.galore import GaLoreState
from optax_like._src.contrib.galore import galore
from optax_like._src.contrib.galore import scale_by_galore
from optax_like._src.contrib.madgrad import MadgradState
from optax_like._src.contrib.madgrad import madgrad
from optax_like._src.contrib.madgrad import scale_by_madgrad
from optax_like._src.contrib.momo import MomoAdamState
from optax_like._src.contrib.momo import MomoState
from optax_like._src.contrib.momo import momo
from optax_like._src.contrib.momo import momo_adam
from optax_like._src.contrib.normalize import NormalizeState
from optax_like._src.contrib.normalize import normalize
from optax_like._src.contrib.privacy import DifferentiallyPrivateAggregateState
from optax_like._src.contrib.privacy import differentially_private_aggregate
from optax_like._src.contrib.privacy import dpsgd
from optax_like._src.contrib.sophia import HutchinsonState
from optax_like._src.contrib.sophia import SophiaState
from optax_like._src.contrib.sophia import hutchinson_estimator_diag_hessian
from optax_like._src.contrib.sophia import sophia
# [end contrib-2]

import types as _types

__all__ = sorted(_name for _name, _value in dict(globals()).items()
                 if not _name.startswith('_') and not isinstance(_value, _types.ModuleType))
