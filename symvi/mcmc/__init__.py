"""MCMC: ``sample()`` runs NUTS (nutpie or BlackJAX) on symvi's compiled log density.

One module per concern: :mod:`~symvi.mcmc.density` (log density + gradient in the forms the
samplers take), :mod:`~symvi.mcmc.init` (where chains start; variational inits),
:mod:`~symvi.mcmc.nutpie_run`, :mod:`~symvi.mcmc.blackjax_run` (the two samplers),
:mod:`~symvi.mcmc.trace` (draws -> InferenceData), :mod:`~symvi.mcmc.steps` (Metropolis,
Slice and Gibbs steps for ``step=`` and discrete variables) and :mod:`~symvi.mcmc.api` (the API).
"""

from symvi.mcmc.api import sample
from symvi.mcmc.steps import BinaryGibbsMetropolis, CategoricalGibbsMetropolis, CompoundStep, Metropolis, Slice
from symvi.mcmc.nuts_step import NUTS

__all__ = ["sample", "Metropolis", "Slice", "BinaryGibbsMetropolis", "CategoricalGibbsMetropolis", "CompoundStep", "NUTS"]
from symvi.mcmc.steps import BinaryMetropolis  # noqa: E402
from symvi.mcmc.de_steps import DEMetropolis, DEMetropolisZ  # noqa: E402
from symvi.mcmc.proposals import (  # noqa: E402
    CauchyProposal,
    LaplaceProposal,
    MultivariateNormalProposal,
    NormalProposal,
    PoissonProposal,
    UniformProposal,
)

__all__ += ["BinaryMetropolis", "DEMetropolis", "DEMetropolisZ", "NormalProposal", "UniformProposal", "CauchyProposal"]
__all__ += ["LaplaceProposal", "PoissonProposal", "MultivariateNormalProposal"]
