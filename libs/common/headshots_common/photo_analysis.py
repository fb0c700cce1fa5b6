"""What the photo checker found in an accepted selfie, stored beside it (`blob_layout.photo_analysis_key`).

The checker writes a `headshots.v1.PhotoAnalysis` (face box, identity embedding, the models that made them)
after the selfie's JPEG; the trainer (crops, likeness references) and the renderer (likeness scores) read it
instead of detecting the face again. Photos without one (orders from before the checker) or made by other
models are analysed again by whoever needs them.
"""

from __future__ import annotations

from collections.abc import Sequence

from headshots.v1 import common_pb2
from headshots_common import blob_layout
from headshots_common.blobstore import BlobNotFound
from headshots_common.faces import Face

# The face models behind a stored analysis (`headshots_common.faces`: dlib's HOG detector and ResNet embedder).
# Change it with the embedder: an embedding from another model is not comparable, and its readers analyse again.
MODEL = "dlib-resnet-v1"


def encode(face: Face, embedding: Sequence[float], width: int, height: int) -> bytes:
    """The PhotoAnalysis of a selfie whose stored JPEG is `width` x `height`, with the face box in its pixels."""
    return common_pb2.PhotoAnalysis(
        face=common_pb2.FaceBox(left=face.left, top=face.top, right=face.right, bottom=face.bottom),
        embedding=list(embedding),
        model=MODEL,
        width=width,
        height=height,
    ).SerializeToString()


def read(blobs, photo_key: str) -> common_pb2.PhotoAnalysis | None:
    """The analysis stored beside the selfie at `photo_key`; None when there is none or other models made it."""
    try:
        raw = blobs.get(blob_layout.photo_analysis_key(photo_key))
    except BlobNotFound:
        return None
    analysis = common_pb2.PhotoAnalysis()
    analysis.ParseFromString(raw)
    return analysis if analysis.model == MODEL and analysis.embedding else None


def face_of(analysis: common_pb2.PhotoAnalysis) -> Face:
    box = analysis.face
    return Face(box.left, box.top, box.right, box.bottom)
