"""Variational inference: approximations, objectives, optimizers, callbacks and ``fit``."""

from symvi.variational import callbacks, optimizers
from symvi.variational import optimizers as updates  # PyMC's name: pm.variational.updates.adam
from symvi.variational.approximations import Approximation, FullRank, MeanField, sample_approx
from symvi.variational.callbacks import CheckParametersConvergence, Tracker
from symvi.variational.empirical import Empirical
from symvi.variational.inference import ADVI, FullRankADVI, Inference, KLqp, fit
from symvi.variational.optimizers import (
    adadelta,
    adagrad,
    adagrad_window,
    adam,
    adamax,
    apply_momentum,
    apply_nesterov_momentum,
    exponential_decay,
    momentum,
    nesterov_momentum,
    rmsprop,
    sgd,
    norm_constraint,
    total_norm_constraint,
)
from symvi.variational.svgd import ASVGD, SVGD

__all__ = [
    "callbacks",
    "optimizers",
    "Approximation",
    "sample_approx",
    "MeanField",
    "FullRank",
    "Empirical",
    "Tracker",
    "CheckParametersConvergence",
    "Inference",
    "KLqp",
    "ADVI",
    "FullRankADVI",
    "SVGD",
    "ASVGD",
    "fit",
    "sgd",
    "momentum",
    "nesterov_momentum",
    "adagrad",
    "adagrad_window",
    "rmsprop",
    "adadelta",
    "adam",
    "adamax",
    "total_norm_constraint",
    "norm_constraint",
    "apply_momentum",
    "apply_nesterov_momentum",
    "exponential_decay",
]
from symvi.variational.diagnostics import Diagnostics, diagnose
from symvi.variational.lowrank import LowRank, LowRankADVI

__all__ += ["Diagnostics", "diagnose", "LowRank", "LowRankADVI"]
from symvi.variational.checkpoint import load

__all__ += ["load"]
from symvi.variational.pathfinder import Pathfinder, PathfinderDraws, pathfinder

__all__ += ["Pathfinder", "PathfinderDraws", "pathfinder"]
from symvi.variational.laplace import LaplaceApproximation, fit_laplace  # (pm.Laplace is the distribution)

__all__ += ["LaplaceApproximation", "fit_laplace"]
from symvi.variational.trace import Draws, trace_cov

__all__ += ["Draws", "trace_cov"]
from symvi.variational.groups import Group, GroupApproximation

__all__ += ["Group", "GroupApproximation"]
from symvi.variational.flows import NFVI, NormalizingFlow

__all__ += ["NFVI", "NormalizingFlow"]
