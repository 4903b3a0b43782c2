"""Loss functions: optax.losses's names, signatures and numbers.

The implementations live in ``optax_like/_src/losses/``, one module per family. 16-bit inputs
are computed in float32 and rounded once; ``0 log 0 = 0`` (a class masked with a ``-inf`` logit
contributes nothing, where optax gives NaN).
"""

from optax_like._src.losses.classification import hinge_loss
from optax_like._src.losses.classification import multiclass_hinge_loss
from optax_like._src.losses.classification import multiclass_perceptron_loss
from optax_like._src.losses.classification import multiclass_sparsemax_loss
from optax_like._src.losses.classification import perceptron_loss
from optax_like._src.losses.classification import poly_loss_cross_entropy
from optax_like._src.losses.classification import safe_softmax_cross_entropy
from optax_like._src.losses.classification import sigmoid_binary_cross_entropy
from optax_like._src.losses.classification import sigmoid_focal_loss
from optax_like._src.losses.classification import softmax_cross_entropy
from optax_like._src.losses.classification import softmax_cross_entropy_with_integer_labels
from optax_like._src.losses.classification import sparsemax_loss
from optax_like._src.losses.ctc import ctc_loss
from optax_like._src.losses.ctc import ctc_loss_with_forward_probs
from optax_like._src.losses.divergences import convex_kl_divergence
from optax_like._src.losses.divergences import generalized_kl_divergence
from optax_like._src.losses.divergences import kl_divergence
from optax_like._src.losses.divergences import kl_divergence_with_log_targets
from optax_like._src.losses.fenchel_young import make_fenchel_young_loss
from optax_like._src.losses.ranking import ranking_softmax_loss
from optax_like._src.losses.regression import cosine_distance
from optax_like._src.losses.regression import cosine_similarity
from optax_like._src.losses.regression import huber_loss
from optax_like._src.losses.regression import l2_loss
from optax_like._src.losses.regression import log_cosh
from optax_like._src.losses.regression import squared_error
from optax_like._src.losses.segmentation import binary_dice_loss
from optax_like._src.losses.segmentation import dice_loss
from optax_like._src.losses.segmentation import multiclass_generalized_dice_loss
from optax_like._src.losses.self_supervised import ntxent
from optax_like._src.losses.self_supervised import triplet_margin_loss
from optax_like._src.losses.smoothing import smooth_labels

__all__ = sorted(_name for _name in dir() if not _name.startswith('_'))
