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
