"""rdrop-fairseq: R-Drop, k-step R-Drop, RealFormer and multi-sample dropout for
fairseq, as a ``--user-dir`` plugin.

Importing this package (``fairseq-train --user-dir rdrop_fairseq``) registers:

- criteria ``label_smoothed_cross_entropy_rdrop`` and
  ``label_smoothed_cross_entropy_fused`` (``criterions/``)
- task ``translation_rdrop`` (``tasks/``)
- architectures ``transformer_realformer*`` (``models/``)

and lets fairseq checkpoints load under torch >= 2.6 (``checkpoint_compat``).
``RDROP_CUDNN_ATTENTION=0`` keeps attention off cuDNN (``attention_backends``).
"""

import os

__version__ = "0.1.0"

from rdrop_fairseq.attention_backends import apply_cudnn_attention_setting
from rdrop_fairseq.checkpoint_compat import allow_fairseq_checkpoints
from rdrop_fairseq.flags import FlagError, install_cli_error_hook

allow_fairseq_checkpoints()
install_cli_error_hook()
apply_cudnn_attention_setting()

from rdrop_fairseq import criterions, models, tasks  # noqa: E402,F401  (registers)

USER_DIR = os.path.dirname(os.path.abspath(__file__))
"""The path to pass as ``--user-dir`` once the package is installed."""

__all__ = ["FlagError", "USER_DIR", "__version__"]
