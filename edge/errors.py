"""One exception hierarchy for edgeface.

Every error says what was expected, what was found and what to do about it.
Catch :class:`EdgeFaceError` to handle all of them.
"""

from __future__ import annotations


class EdgeFaceError(Exception):
    """Base class of every error edgeface raises on purpose."""


class ConfigError(EdgeFaceError):
    """A configuration file or option is wrong (names the key path and the fix)."""


class ModelError(EdgeFaceError):
    """A model file or its manifest is missing, corrupt, or not what was expected."""


class RuntimeNotAvailableError(ModelError):
    """No TFLite runtime (or the Edge TPU delegate) could be loaded."""


class ImageError(EdgeFaceError):
    """An input image could not be read or decoded."""


class NoFaceError(EdgeFaceError):
    """No face was found where one was required."""


class CameraError(EdgeFaceError):
    """A camera or frame source cannot be opened or read (names the source and what to check)."""


class SourceError(EdgeFaceError):
    """A model source (pinned wheel) could not be fetched or failed its hash check."""


class ConversionError(EdgeFaceError):
    """A model conversion or quantisation step failed or fell short of its bar."""


class GalleryError(EdgeFaceError):
    """A gallery (a folder of photos, a .npz gallery file, a store) is not one, or holds unusable templates."""


class StoreError(EdgeFaceError):
    """The local embedding store cannot be read or written."""


class FingerprintError(ModelError, StoreError):
    """Embeddings of another embedder model (a store, a gallery file, a probe): they cannot be
    compared with this model's; re-enrol or re-index with it."""


class DatasetError(EdgeFaceError):
    """A labelled photo set or pairs file (evaluation, calibration) is missing, malformed or has no usable faces."""


class UsageError(EdgeFaceError):
    """Command-line options that do not go together (exit status 2, as argparse's own)."""


class OutputError(EdgeFaceError):
    """A result file (a drawing, a plot) cannot be written where asked."""


class BrokerError(EdgeFaceError):
    """The local test broker (mosquitto) is missing or did not start."""


class EnrollmentError(EdgeFaceError):
    """A photo cannot be enrolled (no face, several faces, unreadable); nothing was stored."""
