"""A plug-in optimizer of the torch kind, as a user would submit one (docs/submitting.md):

    qnntraps bench examples.amsgrad:AMSGrad --suite quick-v1 --out runs/amsgrad

A `torch.optim.Optimizer` subclass is a torch-kind plug-in: the harness builds it once per chunk
over one (restarts, p) parameter tensor, with the hyper-parameters as keyword arguments, and
steps it; element-wise methods such as this one see every restart independently. Its code
identity is the sha256 of this folder's Python files.
"""

import torch


class AMSGrad(torch.optim.Adam):
    """Adam with the AMSGrad correction (the running maximum of the second moment)."""

    def __init__(self, params, lr: float = 0.05, betas: tuple[float, float] = (0.9, 0.999)):
        super().__init__(params, lr=lr, betas=betas, amsgrad=True)
