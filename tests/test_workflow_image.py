"""WorkflowImage's lineage: ids, the place of a region in its parent and in the root image,
and what an image made from another keeps of it."""

from __future__ import annotations

import pickle

import numpy as np

from visionflow.data.image import ImageOrigin, OriginCoordinates, VideoMetadata, WorkflowImage
from visionflow.serialization import serialize


def pixels(width: int = 60, height: int = 40) -> np.ndarray:
    return np.arange(width * height * 3, dtype=np.uint8).reshape(height, width, 3)


def test_each_image_gets_its_own_id_which_stays_as_it_is():
    images = [WorkflowImage(pixels()) for _ in range(3)]
    made = [images[0].region(pixels(), 0, 0) for _ in range(3)]
    ids = [image.image_id for image in images + made]
    assert len(set(ids)) == 6
    assert all(text.startswith("image-") for text in ids)
    assert [image.image_id for image in images + made] == ids  # read again: the same


def test_a_root_image_sits_at_the_origin_of_itself():
    image = WorkflowImage(pixels(60, 40), image_id="root")
    assert image.origin == ImageOrigin("root", 0, 0, 60, 40)
    assert image.is_root and image.parent_id is None and image.parent_place is None


def test_an_operations_result_is_a_new_image_in_the_same_place_and_video():
    frame = VideoMetadata("camera", 7, None, 25.0, False)  # type: ignore[arg-type]
    image = WorkflowImage(pixels(60, 40), image_id="root", video=frame)
    result = image.region(pixels(30, 20), 0, 0)  # e.g. resized
    assert result.image_id not in ("root", None)
    assert result.parent_id == "root"
    assert result.origin == ImageOrigin("root", 0, 0, 60, 40)
    assert result.parent_place == OriginCoordinates(0, 0, 60, 40)
    assert result.parent_place.origin_width == 60  # named fields, as Roboflow reads them
    assert result.video is frame and result.source is None
    assert not result.is_root


def test_a_crop_of_a_crop_maps_back_to_the_root():
    root = WorkflowImage(pixels(60, 40), image_id="root")
    crop = root.crop(10, 5, 50, 35, crop_id="outer")
    inner = crop.crop(4, 3, 20, 13, crop_id="inner")
    assert crop.origin == ImageOrigin("root", 10, 5, 60, 40)
    assert inner.origin == ImageOrigin("root", 14, 8, 60, 40)
    assert (inner.parent_id, inner.parent_place) == ("outer", OriginCoordinates(4, 3, 40, 30))
    assert inner.video is None  # a crop is a still image of its own
    assert np.array_equal(inner.numpy, root.numpy[8:18, 14:30])
    assert inner.parent_metadata.parent_id == "inner"
    assert inner.workflow_root_ancestor_metadata.origin_coordinates == OriginCoordinates(
        14, 8, 60, 40
    )


def test_a_region_at_an_offset_of_a_region_adds_the_offsets():
    root = WorkflowImage(pixels(60, 40), image_id="root")
    warped = root.region(pixels(20, 20), 7, 9).region(pixels(5, 5), 2, 3)
    assert warped.origin == ImageOrigin("root", 9, 12, 60, 40)
    assert warped.parent_place == OriginCoordinates(2, 3, 20, 20)


def test_new_pixels_of_an_image_keep_everything_else():
    root = WorkflowImage(pixels(60, 40), image_id="root", source="a.png")
    crop = root.crop(10, 5, 50, 35, crop_id="c1")
    drawn = crop.with_pixels(np.zeros((30, 40, 3), np.uint8))
    assert (drawn.image_id, drawn.parent_id, drawn.origin, drawn.parent_place) == (
        "c1", "root", crop.origin, crop.parent_place
    )  # fmt: skip
    assert root.with_pixels(pixels(60, 40)).source == "a.png"
    assert not drawn.numpy.any() and crop.numpy.any()


def test_an_image_made_by_a_block_is_serialised_and_pickled_with_its_lineage():
    root = WorkflowImage(pixels(60, 40), image_id="root")
    crop = root.crop(10, 5, 50, 35, crop_id="c1").region(pixels(40, 30), 0, 0)
    data = serialize(crop)
    assert data["parent_id"] == crop.parent_id
    assert data["origin"]["offset_x"] == 10 and data["origin"]["root_id"] == "root"
    again = pickle.loads(pickle.dumps(crop))
    assert (again.image_id, again.parent_id, again.origin, again.parent_place) == (
        crop.image_id, crop.parent_id, crop.origin, crop.parent_place
    )  # fmt: skip
    assert np.array_equal(again.numpy, crop.numpy)
