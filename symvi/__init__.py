"""symvi: variational inference on PyTensor graphs with PyMC's modelling ergonomics.

Examples
--------
>>> import numpy as np, symvi as pm
>>> with pm.Model() as m:
...     mu = pm.Normal("mu", 0, 10)
...     y = pm.Normal("y", mu, 1, observed=np.array([0.5, 1.5]))
>>> sorted(m.initial_point())
['mu']
"""

from pytensor import tensor as _pt

from symvi import fused_reduce_numba, numba_kernels, numba_rvs, transforms
from symvi import malloc as _malloc
from symvi import numba_compile as _numba_compile
from symvi import numba_calls as _numba_calls

_numba_compile.install()  # less repeated LLVM work per compiled loop (first fits)
_numba_calls.install()  # cheaper Python <-> Numba calls (a loop of one step per callback)
_malloc.tune()  # step temporaries stay in the process (no page faults per step)
from symvi.backends import backend
from symvi.distributions import *  # noqa: F403
from symvi.minibatch import Minibatch
from symvi.optimize import find_MAP
from symvi.pytensorf import floatX, intX
from symvi.model import Data, Deterministic, Model, Potential, modelcontext, set_data
from symvi.sampling import draw, sample_prior_predictive, to_inference_data
from symvi.sampling import sample_posterior_predictive
from symvi.log_likelihood import compute_deterministics, compute_log_likelihood, compute_log_prior
from symvi.graph import model_to_graphviz, model_to_mermaid, model_to_networkx
from symvi.model_transform import do, observe
from symvi.mcmc import sample
from symvi.mcmc import BinaryGibbsMetropolis, CategoricalGibbsMetropolis, CompoundStep, Metropolis, Slice
from symvi import smc  # noqa: E402 - pm.smc.IMH, pm.smc.MH (Sequential Monte Carlo kernels)
from symvi.smc import sample_smc
from symvi.variational import *  # noqa: F403
from symvi.variational import callbacks, optimizers
from symvi.variational import approximations, inference  # PyMC's module names: pm.approximations, ...
from symvi.variational import optimizers as updates  # PyMC's module name for the optimizers
from symvi import distributed  # noqa: E402 - dask.distributed fits (dask imported only when used)
from symvi.distributed import fit_many
from symvi import gp  # noqa: E402 - Gaussian processes (pm.gp.cov, pm.gp.Latent, pm.gp.Marginal, ...)

from symvi import math  # noqa: E402 - pytensor.tensor plus PyMC's helpers (invlogit, logdet, ...)
from symvi.math import expand_packed_triangular, invlogit, invprobit, logaddexp, logit, logsumexp, probit
from symvi import stats as _stats
from symvi import ode  # noqa: E402 - pm.ode.DifferentialEquation (scipy.integrate imported at first solve)


def __getattr__(name: str):
    """ArviZ's statistics and plots under PyMC's names (``pm.summary``, ``pm.plot_trace``, ...)."""
    return _stats.arviz_function(name)


__version__ = "0.1.0"
from symvi.mcmc import NUTS  # noqa: E402 - pm.NUTS() alone runs symvi's NUTS; in a compound step, Slice
from symvi.pytensor_helpers import compile, compile_fn, find_hessian, find_hessian_diag, gradient, hessian  # noqa: E402
from symvi.pytensor_helpers import hessian_diag, inputvars, jacobian, logccdf  # noqa: E402
from symvi.constrained_prior import find_constrained_prior  # noqa: E402 - scipy.optimize imported when called
from symvi.mcmc import BinaryMetropolis, DEMetropolis, DEMetropolisZ  # noqa: E402 - step methods for pm.sample(step=...)
from symvi.mcmc import CauchyProposal, LaplaceProposal, MultivariateNormalProposal  # noqa: E402
from symvi.mcmc import NormalProposal, PoissonProposal, UniformProposal  # noqa: E402
