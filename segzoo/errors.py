"""The errors segzoo raises for problems a user can fix, each with advice for Python and for the CLI.

Torch-free on purpose (the CLI imports it before deciding whether torch is needed). An error
has ``problem`` (what was wrong), ``fix`` (how to fix it from Python) and ``cli_fix`` (the same
in ``segzoo`` command terms, e.g. ``--weights PATH`` instead of ``weights=...``); ``str(err)``
is ``problem`` + ``fix``, so Python users see the Python advice and the CLI prints
``problem`` + ``cli_fix``.
"""

from __future__ import annotations

__all__ = [
    "SegzooError", "WeightsError", "BackboneWeightsError", "OfflineError", "BackboneOfflineError", "WeightsLicenseWarning",
]


class SegzooError(Exception):
    """A problem the user can fix; ``problem``, ``fix`` and ``cli_fix`` as in the module docstring."""

    def __init__(self, problem: str, *, fix: str = "", cli_fix: str = "") -> None:
        super().__init__(f"{problem} {fix}".strip())
        self.problem = problem
        self.fix = fix
        self.cli_fix = cli_fix or fix

    def cli_message(self) -> str:
        """``problem`` followed by the command-line advice."""
        return f"{self.problem} {self.cli_fix}".strip()


class WeightsError(SegzooError, RuntimeError):
    """A weights file that can't be used: unreadable, corrupt, truncated, not matching the model, or
    not downloadable."""


class BackboneWeightsError(WeightsError):
    """A backbone's ImageNet weights could not be downloaded, read, or matched to the backbone."""


class OfflineError(WeightsError):
    """A download that can't happen because the host is unreachable (found out within seconds, not
    after a client's retries). ``option`` names the recipe option or CLI flag of the local-file
    alternative (``backbone_weights`` or ``weights``)."""

    def __init__(self, problem: str, *, fix: str = "", cli_fix: str = "", option: str = "weights") -> None:
        super().__init__(problem, fix=fix, cli_fix=cli_fix)
        self.option = option


class BackboneOfflineError(OfflineError, BackboneWeightsError):
    """A backbone's ImageNet weights can't be downloaded: no network."""


class WeightsLicenseWarning(UserWarning):
    """Published weights whose terms restrict their use (e.g. non-commercial only): shown when they load."""
