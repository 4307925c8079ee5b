"""Clear errors for bad flag values.

A bad value raises :class:`FlagError`, a ``ValueError`` whose message names the
flag, the allowed values and what was given. Python callers get an ordinary
exception; on the command line (``fairseq-train``, ``fairseq-generate``) the hook
installed by :func:`install_cli_error_hook` prints the message alone (exit
status 1), the way argparse reports a bad argument, instead of a traceback
that ends deep inside fairseq.
"""

import sys


class FlagError(ValueError):
    def __init__(self, flag: str, allowed: str, got):
        self.flag, self.allowed, self.got = flag, allowed, got
        super().__init__(f"{flag}: expected {allowed}, got {got!r}")


def check_flag(ok: bool, flag: str, allowed: str, got) -> None:
    if not ok:
        raise FlagError(flag, allowed, got)


def install_cli_error_hook() -> None:
    previous = sys.excepthook
    if getattr(previous, "_rdrop_fairseq_hook", False):
        return

    def hook(exc_type, exc, tb):
        if issubclass(exc_type, FlagError):
            prog = sys.argv[0].rsplit("/", 1)[-1] if sys.argv and sys.argv[0] else "fairseq"
            sys.stderr.write(f"{prog}: error: {exc}\n")
            sys.stderr.flush()
            return
        previous(exc_type, exc, tb)

    hook._rdrop_fairseq_hook = True
    sys.excepthook = hook
