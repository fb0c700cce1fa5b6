"""The one layout of the blob store: every key any service reads or writes is built here.

    orders/{order_id}/                         everything of one order (deleting an order deletes this prefix)
        photos/{photo_id}.jpg                  accepted selfies, EXIF stripped            (gateway)
        photos/{photo_id}.analysis.pb          its face box and embedding (PhotoAnalysis) (gateway -> trainer, renderer)
        quarantine/{photo_id}                  an upload's raw bytes, EXIF and all, until the photo checker has
                                               read them; nothing else reads them             (gateway)
        training/job.json                      the training job record and its lease      (trainer)
        training/checkpoint-{lease}-{step}.pt  a training checkpoint, never overwritten   (trainer)
        training/cancel                        present once cancelling was asked          (trainer)
        adapter/{lease}/pytorch_lora_weights.safetensors   the person's LoRA adapter      (trainer -> renderer)
        adapter/{lease}/manifest.json          how the adapter was made                   (trainer)
        headshots/{render_id}/{style}-{i:03d}.png   delivered headshots ("pack" or a render request id)
        headshots/{render_id}/manifest.json    written last: the render is stored         (renderer dispatcher)
    priors/{model}/{class}/{resolution}/{i:03d}.png   shared class images for prior preservation (trainer)
    training-requests/{sha256(request_id)}     SubmitTraining idempotency keys            (trainer)
    tombstones/{order_id}                      the order was deleted: no write under its prefix succeeds

A training run writes its checkpoints and its adapter under its lease token (trainer.training_jobs): a
worker that lost its lease can never overwrite what the lease's new holder wrote; the job record names
which run's files count. Keys are "/"-separated and never start with "/"; `blobstore.check_key`
enforces the rest.
"""

from __future__ import annotations

import hashlib
import re

from headshots_common.adapter_format import ADAPTER_FILE_NAME

ORDERS_PREFIX = "orders/"
PRIORS_PREFIX = "priors/"
TRAINING_REQUESTS_PREFIX = "training-requests/"
TOMBSTONES_PREFIX = "tombstones/"

# The render id of the headshots rendered right after training (the order's style pack).
PACK_RENDER_ID = "pack"

_MANIFEST = "manifest.json"


def order_prefix(order_id: str) -> str:
    return f"{ORDERS_PREFIX}{order_id}/"


def order_id_of(key: str) -> str | None:
    """The order a key belongs to, or None for a key outside every order (priors, tombstones)."""
    if not key.startswith(ORDERS_PREFIX):
        return None
    order_id, slash, _ = key[len(ORDERS_PREFIX) :].partition("/")
    return order_id if slash and order_id else None


def tombstone_key(order_id: str) -> str:
    """Outside the order's prefix: purging the order's blobs leaves its tombstone."""
    return f"{TOMBSTONES_PREFIX}{order_id}"


# -- selfies -----------------------------------------------------------------------------------------------------
def photos_prefix(order_id: str) -> str:
    return f"{order_prefix(order_id)}photos/"


def photo_key(order_id: str, photo_id: str) -> str:
    return f"{photos_prefix(order_id)}{photo_id}.jpg"


def photo_analysis_key(photo_key: str) -> str:
    """The PhotoAnalysis (headshots.v1) stored beside a selfie: its face box and identity embedding."""
    return photo_key.removesuffix(".jpg") + ".analysis.pb"


def quarantine_prefix(order_id: str) -> str:
    """Uploads waiting for the photo checker: raw bytes as sent, under the order's prefix so deleting it purges them."""
    return f"{order_prefix(order_id)}quarantine/"


def quarantine_key(order_id: str, photo_id: str) -> str:
    return f"{quarantine_prefix(order_id)}{photo_id}"


def is_quarantine_key(key: str) -> bool:
    order_id = order_id_of(key)
    return order_id is not None and key.startswith(quarantine_prefix(order_id))


def is_photo_key(key: str) -> bool:
    """A selfie's JPEG (not its analysis) under some order's photos prefix."""
    order_id = order_id_of(key)
    return order_id is not None and key.startswith(photos_prefix(order_id)) and key.endswith(".jpg")


# -- training ----------------------------------------------------------------------------------------------------
def training_prefix(order_id: str) -> str:
    return f"{order_prefix(order_id)}training/"


def training_record_key(order_id: str) -> str:
    return f"{training_prefix(order_id)}job.json"


def checkpoint_key(order_id: str, lease_token: int, step: int) -> str:
    """One per (run, step): a run whose lease was taken over can never overwrite what its successor resumes from."""
    return f"{training_prefix(order_id)}checkpoint-{lease_token}-{step}.pt"


def is_checkpoint_key(order_id: str, key: str) -> bool:
    return key.startswith(f"{training_prefix(order_id)}checkpoint-") and key.endswith(".pt")


def cancel_request_key(order_id: str) -> str:
    return f"{training_prefix(order_id)}cancel"


def training_request_key(request_id: str) -> str:
    """Where a SubmitTraining request id records its order (hashed: request ids are caller-chosen text)."""
    return f"{TRAINING_REQUESTS_PREFIX}{hashlib.sha256(request_id.encode()).hexdigest()}"


# -- the adapter -------------------------------------------------------------------------------------------------
def adapter_prefix(order_id: str) -> str:
    return f"{order_prefix(order_id)}adapter/"


def adapter_key(order_id: str, lease_token: int) -> str:
    return f"{adapter_prefix(order_id)}{lease_token}/{ADAPTER_FILE_NAME}"


def adapter_manifest_key(order_id: str, lease_token: int) -> str:
    return f"{adapter_prefix(order_id)}{lease_token}/{_MANIFEST}"


# -- headshots ---------------------------------------------------------------------------------------------------
def headshots_prefix(order_id: str) -> str:
    return f"{order_prefix(order_id)}headshots/"


def render_prefix(order_id: str, render_id: str) -> str:
    return f"{headshots_prefix(order_id)}{render_id}/"


def headshot_key(order_id: str, render_id: str, style_id: str, index: int) -> str:
    return f"{render_prefix(order_id, render_id)}{style_id}-{index:03d}.png"


def render_manifest_key(order_id: str, render_id: str) -> str:
    return f"{render_prefix(order_id, render_id)}{_MANIFEST}"


def is_headshot_key(order_id: str, key: str) -> bool:
    return key.startswith(headshots_prefix(order_id))


# -- class images for prior preservation, shared by every order ---------------------------------------------------
def class_images_prefix(model_id: str, subject_class: str, resolution: int) -> str:
    """Per (base model, subject class, resolution); the class is reduced to a safe slug."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", (subject_class or "person").strip().lower()).strip("-") or "person"
    return f"{PRIORS_PREFIX}{model_id}/{slug}/{resolution}/"


def class_image_key(prefix: str, index: int) -> str:
    return f"{prefix}{index:03d}.png"
