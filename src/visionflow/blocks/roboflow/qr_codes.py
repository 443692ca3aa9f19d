"""Roboflow's QR code generator (issue 12): a text drawn as a QR code image, on OpenCV's
QR encoder (version chosen to fit, Roboflow's error-correction levels, colours and sizes).
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
from PIL import ImageColor

from visionflow.blocks.api import Block, Output, Selector
from visionflow.blocks.roboflow.palettes import colour
from visionflow.data.image import WorkflowImage

ErrorCorrection = Literal[
    "Low (~7% word recovery / highest data capacity)",
    "Medium (~15% word recovery)",
    "Quartile (~25% word recovery)",
    "High (~30% word recovery / lowest data capacity)",
]
_LEVELS = {
    "Low": cv2.QRCODE_ENCODER_CORRECT_LEVEL_L,
    "Medium": cv2.QRCODE_ENCODER_CORRECT_LEVEL_M,
    "Quartile": cv2.QRCODE_ENCODER_CORRECT_LEVEL_Q,
    "High": cv2.QRCODE_ENCODER_CORRECT_LEVEL_H,
}
BOX_SIZE = 10  # pixels a module, fixed in Roboflow's block


class QRCodeGenerator(Block):
    """``qr_code``: ``text`` as a QR code, the smallest version that holds it at the
    ``error_correct`` level, 10 pixels a module, a quiet zone of ``border`` modules;
    modules in ``fill_color`` on ``back_color`` (``#RRGGBB``, ``rgb(R, G, B)``,
    ``bgr(B, G, R)``, a supervision colour name such as ``BLACK``, or a CSS colour name).

    The code has Roboflow's size and reads back as the same text; Roboflow draws it with
    the ``qrcode`` package, which may choose another of the eight mask patterns, so the
    modules inside can differ.
    """

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/qr_code_generator@v1", "QRCodeGenerator"]
        text: Selector(kinds=["string"]) | str
        error_correct: ErrorCorrection = "Medium (~15% word recovery)"
        border: Selector(kinds=["integer"]) | int = 4
        fill_color: Selector(kinds=["string"]) | str = "BLACK"
        back_color: Selector(kinds=["string"]) | str = "WHITE"

    outputs = [Output("qr_code", kinds=["image"])]
    category = "image operations"

    def run(
        self,
        text: str,
        error_correct: str = "Medium (~15% word recovery)",
        border: int = 4,
        fill_color: str = "BLACK",
        back_color: str = "WHITE",
    ) -> dict:
        if border < 0:
            raise ValueError(f"border must be 0 or more modules, found {border}")
        level = error_correct.split(" ")[0]
        try:
            modules = _modules(str(text), _LEVELS[level])
        except cv2.error:  # OpenCV's only refusal here: more than a version 40 code holds
            raise ValueError(
                f"a text of {len(str(text))} characters is too long for a QR code at the "
                f"{level} error correction level; shorten it or choose a lower level"
            ) from None
        modules = np.pad(modules, border)
        pixels = np.repeat(np.repeat(modules, BOX_SIZE, axis=0), BOX_SIZE, axis=1)
        image = np.where(pixels[:, :, None], _bgr(fill_color), _bgr(back_color))
        # a new image, made from no input: it is its own root
        return {"qr_code": WorkflowImage(image.astype(np.uint8))}


def _modules(text: str, level: int) -> np.ndarray:
    """The code's modules (True: dark), without a quiet zone."""
    parameters = cv2.QRCodeEncoder.Params()
    parameters.correction_level = level
    drawn = cv2.QRCodeEncoder.create(parameters).encode(text)
    dark = drawn == 0
    rows, columns = np.nonzero(dark)  # the three finder patterns bound the symbol
    return dark[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]


def _bgr(text: str) -> np.ndarray:
    """A colour in Roboflow's forms, else a CSS name (as Roboflow's fallback reads it)."""
    try:
        return np.array(colour(text).as_bgr(), np.uint8)
    except ValueError:
        pass
    try:
        red, green, blue = ImageColor.getrgb(text)[:3]
    except ValueError:
        raise ValueError(
            f"unknown colour {text!r}: write #RRGGBB, rgb(R, G, B), bgr(B, G, R) or a colour "
            "name (BLACK, WHITE, navy, ...)"
        ) from None
    return np.array([blue, green, red], np.uint8)


BLOCKS: list[type[Block]] = [QRCodeGenerator]
