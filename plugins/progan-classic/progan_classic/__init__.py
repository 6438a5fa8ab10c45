"""progan-classic: the pre-progressive baselines (MLP GAN, DCGAN) and their classic losses and tricks."""
from progan_classic.plugin import progan_register_architectures, progan_register_losses

__version__ = "0.1.0"
__all__ = ["progan_register_architectures", "progan_register_losses"]
