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
    """The local embedding store cannot be read or written, or holds another model's embeddings."""


class EnrollmentError(EdgeFaceError):
    """A photo cannot be enrolled (no face, several faces, unreadable); nothing was stored."""
