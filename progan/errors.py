"""Typed errors: the library raises these, the CLI turns them into one clear line (exit code 2)."""


class ProganError(Exception):
    """Base class of every error a user can cause and fix."""


class ConfigError(ProganError):
    """A configuration key, value or type is wrong."""


class DataError(ProganError):
    """A dataset path or its content cannot be used."""


class CheckpointError(ProganError):
    """A checkpoint or export file is missing, corrupt or incompatible."""


class PluginError(ProganError):
    """A plugin is missing, broken or registers a name twice."""


class TrainingError(ProganError):
    """Training cannot go on (non-finite values, unwritable output)."""


class NonFiniteError(TrainingError):
    """A loss term, a gradient or a weight became NaN or infinite (``term``, ``images_shown``)."""

    def __init__(self, message: str, *, term: str = "", images_shown: int = 0) -> None:
        super().__init__(message)
        self.term, self.images_shown = term, images_shown
