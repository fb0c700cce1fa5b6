"""The renderer's likeness references come from what the photo checker stored beside each selfie
(`headshots_common.photo_analysis`): no face is detected again for those. Selfies of older orders, without a stored
analysis, are still analysed from their JPEG."""

from __future__ import annotations

import types

import numpy as np
from PIL import Image

from headshots.v1 import common_pb2
from headshots_common import blob_layout, photo_analysis
from headshots_common.blobstore import LocalBlobStore
from headshots_common.faces import Face
from renderer.dispatcher import RenderDispatcher
from renderer.likeness import selfie_embeddings


def test_stored_embeddings_are_references_and_older_photos_are_analysed(tmp_path, person_photos, other_person_photo):
    blobs = LocalBlobStore(tmp_path / "blobs")
    order_id = "3f1c2a9e-0000-4000-8000-000000000001"
    checked, older = blob_layout.photo_key(order_id, "p1"), blob_layout.photo_key(order_id, "p2")
    blobs.put(checked, person_photos[0].read_bytes())
    blobs.put(older, person_photos[1].read_bytes())
    # The checker's analysis of p1 holds another person's embedding: only reading it, not detecting p1's face
    # again, makes it a reference.
    (stored,) = selfie_embeddings([other_person_photo.read_bytes()])
    with Image.open(person_photos[0]) as image:
        width, height = image.size
    blobs.put(
        blob_layout.photo_analysis_key(checked), photo_analysis.encode(Face(10, 10, 200, 200), stored, width, height)
    )

    references = RenderDispatcher._selfie_embeddings(types.SimpleNamespace(blobs=blobs), order_id)

    (computed,) = selfie_embeddings([person_photos[1].read_bytes()])
    assert len(references) == 2
    assert np.allclose(references[0], stored, atol=1e-6)
    assert np.allclose(references[1], computed, atol=1e-6)


def test_an_analysis_from_other_face_models_is_not_trusted(tmp_path, person_photos):
    blobs = LocalBlobStore(tmp_path / "blobs")
    order_id = "3f1c2a9e-0000-4000-8000-000000000002"
    key = blob_layout.photo_key(order_id, "p1")
    blobs.put(key, person_photos[0].read_bytes())
    foreign = common_pb2.PhotoAnalysis(embedding=[0.5] * 128, model="another-embedder-v9", width=10, height=10)
    blobs.put(blob_layout.photo_analysis_key(key), foreign.SerializeToString())

    references = RenderDispatcher._selfie_embeddings(types.SimpleNamespace(blobs=blobs), order_id)

    (computed,) = selfie_embeddings([person_photos[0].read_bytes()])
    assert len(references) == 1 and np.allclose(references[0], computed, atol=1e-6)
