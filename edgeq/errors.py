"""Errors a user can act on. The CLI prints them as one line and exits with code 2 (no traceback)."""


class EdgeqError(Exception):
    """Base of every user-facing error; the message names the file, op or tensor at fault."""


class ModelError(EdgeqError):
    """The model file is missing, not a model, truncated or malformed."""


class UnsupportedError(EdgeqError):
    """The model uses an op, type or attribute edgeq does not support (the message names op and node)."""


class CalibrationError(EdgeqError):
    """The calibration data is missing, empty or does not match the model's inputs."""


class RuntimeFailure(EdgeqError):
    """runtime_c returned an error code."""


class DeviceError(EdgeqError):
    """A board did not answer, answered wrongly, or could not be started or flashed."""
