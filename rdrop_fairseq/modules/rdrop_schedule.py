"""When R-Drop's second pass is paid, and with what weight: a pure function of
fairseq's update count.

``update_num`` is fairseq's count of finished updates (0 on the first update),
restored from checkpoints and identical on every worker, so a schedule built on
it survives a restart and agrees across processes. The task
(``translation_rdrop``) asks :meth:`RDropSchedule.plan` once per update and
hands the answer to the criterion.

- ``k_step``: R-Drop on updates with ``update_num % k == 0`` (the paper's k-step
  variant; the phase is absolute, so a late start keeps the same phase).
- ``start_update``: no R-Drop before this update: one plain label-smoothed
  pass, the baseline's cost.
- ``alpha_warmup_updates``: from the start, alpha ramps linearly from 0 to the
  criterion's ``--rdrop-alpha`` over this many updates:
  ``alpha * min(1, (update_num - start_update) / alpha_warmup_updates)``.
"""

from dataclasses import dataclass
from typing import Tuple


@dataclass(frozen=True)
class RDropSchedule:
    k_step: int = 1
    start_update: int = 0
    alpha_warmup_updates: int = 0

    @property
    def needs_rdrop_criterion(self) -> bool:
        """Whether any update is told apart from R-Drop's default (every update)."""
        return self.k_step != 1 or self.start_update > 0 or self.alpha_warmup_updates > 0

    def plan(self, update_num: int) -> Tuple[bool, float]:
        """(run R-Drop on this update?, the fraction of --rdrop-alpha to use)."""
        if update_num < self.start_update or update_num % self.k_step != 0:
            return False, 0.0
        if self.alpha_warmup_updates <= 0:
            return True, 1.0
        return True, min(1.0, (update_num - self.start_update) / self.alpha_warmup_updates)
