"""Roboflow's small value blocks: ``scalar_only_block_plugin``, ``batch_only_block_plugin``,
``scalar_selectors_plugin``, ``input_free_blocks_plugin`` and
``plugin_testing_non_simd_step_with_optional_outputs``."""

from __future__ import annotations

import datetime
import uuid
from typing import Any, Literal

import numpy as np

from visionflow import Batch, Block, Output, Selector, WorkflowImage

IMAGE = ["image"]


class ScalarOnlyEcho(Block):
    class Manifest(Block.Manifest):
        type: Literal["scalar_only_echo"]
        value: Selector() | str = "foobar"

    outputs = [Output("output")]  # no batch declarations: called element by element

    def run(self, value: Any) -> dict:
        return {"output": value}


class BatchOnlyEcho(Block):
    class Manifest(Block.Manifest):
        type: Literal["batch_only_echo"]
        items: Selector(kinds=["list_of_values"]) | list[str] | None = None

    outputs = [Output("output")]
    accepts_batches = True  # get_parameters_accepting_batches() == ["items"]
    batch_fields = frozenset({"items"})
    accepts_empty = True  # accepts_empty_values() == True

    def run(self, items: Batch | None) -> list[dict]:
        if not items:
            return [{"output": "no_batch"}]
        return [{"output": item} for item in items]


class SecretStore(Block):
    class Manifest(Block.Manifest):
        type: Literal["secret_store"]

    outputs = [Output("secret", kinds=["string"])]

    def run(self) -> dict:
        return {"secret": "my_secret"}


class SecretStoreUser(Block):
    class Manifest(Block.Manifest):
        type: Literal["secret_store_user"]
        image: Selector(kinds=IMAGE)  # BatchSelector
        secret: Selector(kinds=["string"])  # ScalarSelector

    outputs = [Output("output", kinds=["string"])]
    accepts_batches = True  # old style accepts_batch_input(): the batch selector's field
    batch_fields = frozenset({"image"})

    def run(self, image: Batch, secret: Any) -> list[dict]:
        return [{"output": secret} for _ in image]


class BatchSecretStore(Block):
    class Manifest(Block.Manifest):
        type: Literal["batch_secret_store"]
        image: Selector(kinds=IMAGE)

    outputs = [Output("secret", kinds=["string"])]

    def run(self, image: WorkflowImage) -> dict:
        return {"secret": f"my_secret_{uuid.uuid4()}"}


class NonBatchSecretStoreUser(Block):
    class Manifest(Block.Manifest):
        type: Literal["non_batch_secret_store_user"]
        secret: Selector(kinds=["string"])

    outputs = [Output("output", kinds=["string"])]

    def run(self, secret: Any) -> dict:
        return {"output": secret}


class ReferenceImagesComparison(Block):
    """The fraction of equal pixel values between the image and each reference image."""

    class Manifest(Block.Manifest):
        type: Literal["reference_images_comparison"]
        image: Selector(kinds=IMAGE)
        reference_images: Selector(kinds=["list_of_values"]) | Any

    outputs = [Output("similarity", kinds=["list_of_values"])]

    def run(self, image: WorkflowImage, reference_images: list) -> dict:
        pixels = image.numpy
        similarity = []
        for reference in reference_images:
            other = reference.numpy if isinstance(reference, WorkflowImage) else reference
            similarity.append(float((pixels == np.asarray(other)).sum() / pixels.size))
        return {"similarity": similarity}


class CurrentTime(Block):
    class Manifest(Block.Manifest):
        type: Literal["CurrentTime"]

    outputs = [Output("time", kinds=["string"])]

    def run(self) -> dict:
        return {"time": datetime.datetime.now().isoformat()}


# plugin_testing_non_simd_step_with_optional_outputs (compatibility >=1.4.0)


class _ImageAndSecret(Block.Manifest):
    image: Selector(kinds=IMAGE)
    secret: Selector(kinds=["secret"])


class BlockAcceptingBatchesOfImages(Block):
    class Manifest(_ImageAndSecret):
        type: Literal["block_accepting_batches_of_images"]

    outputs = [Output("output", kinds=["string"])]
    accepts_batches = True
    batch_fields = frozenset({"image"})

    def run(self, image: Batch, secret: Any) -> list[dict]:
        return [{"output": "ok"} for _ in image]


class BlockAcceptingEmptyBatchesOfImages(Block):
    class Manifest(_ImageAndSecret):
        type: Literal["block_accepting_empty_batches_of_images"]

    outputs = [Output("output", kinds=["string"])]
    accepts_batches = True
    batch_fields = frozenset({"image"})
    accepts_empty = True

    def run(self, image: Batch, secret: Any) -> list[dict]:
        return [{"output": "empty" if secret is None else "ok"} for _ in image]


class BlockAcceptingImages(Block):
    class Manifest(_ImageAndSecret):
        type: Literal["block_accepting_images"]

    outputs = [Output("output", kinds=["string"])]

    def run(self, image: WorkflowImage, secret: Any) -> dict:
        return {"output": "ok"}


class BlockAcceptingEmptyImages(Block):
    class Manifest(_ImageAndSecret):
        type: Literal["block_accepting_empty_images"]

    outputs = [Output("output", kinds=["string"])]
    accepts_empty = True

    def run(self, image: WorkflowImage, secret: Any) -> dict:
        return {"output": "empty" if secret is None else "ok"}


class BlockAcceptingScalars(Block):
    class Manifest(Block.Manifest):
        type: Literal["block_accepting_scalars"]
        secret: Selector(kinds=["secret"])

    outputs = [Output("output", kinds=["secret"])]

    def run(self, secret: Any) -> dict:
        return {"output": secret}


class BlockAcceptingEmptyScalars(Block):
    class Manifest(Block.Manifest):
        type: Literal["block_accepting_empty_scalars"]
        secret: Selector(kinds=["secret"])

    outputs = [Output("output", kinds=["secret"])]
    accepts_empty = True

    def run(self, secret: Any) -> dict:
        return {"output": "modified-secret"}


BLOCKS: list[type[Block]] = [
    ScalarOnlyEcho,
    BatchOnlyEcho,
    SecretStore,
    SecretStoreUser,
    BatchSecretStore,
    NonBatchSecretStoreUser,
    ReferenceImagesComparison,
    CurrentTime,
    BlockAcceptingBatchesOfImages,
    BlockAcceptingEmptyBatchesOfImages,
    BlockAcceptingImages,
    BlockAcceptingEmptyImages,
    BlockAcceptingScalars,
    BlockAcceptingEmptyScalars,
]
