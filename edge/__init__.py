"""edgeface: face recognition on int8 TFLite models, for door units.

    import edge
    v = edge.verify("alice1.jpg", "alice2.jpg")
    print(v.verified, v.similarity)

Importing ``edge`` loads no model and changes no global state.
"""

from edge.api import (
    Analysis,
    Face,
    Recognizer,
    Representation,
    Verification,
    analyze,
    extract_faces,
    find,
    represent,
    verify,
)
from edge.errors import (
    ConfigError,
    EdgeFaceError,
    GalleryError,
    ImageError,
    ModelError,
    NoFaceError,
)
from edge.match import Gallery, Match

__all__ = [
    "Analysis", "ConfigError", "EdgeFaceError", "Face", "GalleryError", "ImageError", "ModelError", "NoFaceError",
    "Gallery", "Match", "Recognizer", "Representation", "Verification", "analyze", "extract_faces", "find", "represent", "verify",
]
__version__ = "0.1.0"
