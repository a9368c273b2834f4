"""Variational inference: approximations, objectives, optimizers, callbacks and ``fit``."""

from symvi.variational import callbacks, optimizers
from symvi.variational.approximations import Approximation, FullRank, MeanField
from symvi.variational.callbacks import CheckParametersConvergence, Tracker
from symvi.variational.empirical import Empirical
from symvi.variational.inference import ADVI, FullRankADVI, Inference, KLqp, fit
from symvi.variational.optimizers import (
    adadelta,
    adagrad,
    adagrad_window,
    adam,
    adamax,
    exponential_decay,
    momentum,
    nesterov_momentum,
    rmsprop,
    sgd,
    total_norm_constraint,
)
from symvi.variational.svgd import ASVGD, SVGD

__all__ = [
    "callbacks",
    "optimizers",
    "Approximation",
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
    "exponential_decay",
]
from symvi.variational.diagnostics import Diagnostics, diagnose
from symvi.variational.lowrank import LowRank, LowRankADVI

__all__ += ["Diagnostics", "diagnose", "LowRank", "LowRankADVI"]
from symvi.variational.checkpoint import load

__all__ += ["load"]
from symvi.variational.pathfinder import Pathfinder, PathfinderDraws, pathfinder

__all__ += ["Pathfinder", "PathfinderDraws", "pathfinder"]
from symvi.variational.trace import Draws, trace_cov

__all__ += ["Draws", "trace_cov"]
