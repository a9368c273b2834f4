"""Sequential Monte Carlo: ``pm.sample_smc`` and its kernels (``pm.smc.IMH``, ``pm.smc.MH``).

:mod:`~symvi.smc.kernels` holds the tempering, resampling and Metropolis mutations;
:mod:`~symvi.smc.sampling` runs the chains and builds InferenceData.
"""

from symvi.smc.kernels import IMH, MH, SMC_KERNEL
from symvi.smc.sampling import sample_smc

__all__ = ["IMH", "MH", "SMC_KERNEL", "sample_smc"]
