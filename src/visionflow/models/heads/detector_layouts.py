"""The output layouts of trained detectors, and the compile error for a model whose outputs
do not have the layout its declared format means.

Each layout is ONE output of three axes, batch first; ``classes`` is the length of the
model's ``labels`` when given, ``boxes`` the number of candidates. Dynamic axes (``?``) fit
any size.
"""

from __future__ import annotations

from dataclasses import dataclass

from visionflow.errors import ModelFormatError
from visionflow.models.runtime import TensorInfo
from visionflow.models.spec import ModelSpec

Shape = tuple[int | None, ...]


@dataclass(frozen=True)
class Layout:
    format: str
    extra: int  # values per box before the class scores: 4 (box) or 5 (box, objectness)
    boxes_last: bool  # (1, extra + classes, boxes) rather than (1, boxes, extra + classes)

    def describe(self, classes: int | str = "classes") -> str:
        values = f"{self.extra} + {classes}" if isinstance(classes, str) else self.extra + classes
        return f"(1, {values}, boxes)" if self.boxes_last else f"(1, boxes, {values})"

    def fits(self, shape: Shape, classes: int | None) -> bool:
        """Whether one output of ``shape`` can be this layout for a model of ``classes`` labels.

        A class axis of exactly ``classes`` fits. Labels may also name fewer classes than the
        model has (the others are named by number), never more.
        """
        if len(shape) != 3 or shape[0] not in (1, None):
            return False
        values, boxes = self.split(shape)
        if values is None or (classes is not None and values == self.extra + classes):
            return True
        # At least one class, and (as in every real export) at least as many candidate boxes
        # as values per box, which tells (1, 84, 8400) from (1, 300, 84).
        if values <= self.extra or (boxes is not None and boxes < values):
            return False
        return classes is None or values >= self.extra + classes

    def split(self, shape: Shape) -> tuple[int | None, int | None]:
        """(values per box, boxes) of a three-axis shape."""
        return (shape[1], shape[2]) if self.boxes_last else (shape[2], shape[1])


LAYOUTS = {
    "yolov8": Layout("yolov8", 4, boxes_last=True),
    "yolov5": Layout("yolov5", 5, boxes_last=False),
    "rtdetr": Layout("rtdetr", 4, boxes_last=False),
}


def shape_text(shape: Shape) -> str:
    return "(" + ", ".join("?" if size is None else str(size) for size in shape) + ")"


def check_detector_outputs(spec: ModelSpec, outputs: list[TensorInfo], layout: str) -> None:
    """Raise ModelFormatError unless ``outputs`` are one output of the ``layout``."""
    expected = LAYOUTS[layout]
    classes = len(spec.labels) if spec.labels else None
    shapes = [output.shape for output in outputs]
    if len(shapes) == 1 and expected.fits(shapes[0], classes):
        return
    found = ", ".join(shape_text(shape) for shape in shapes)
    message = (
        f"model '{spec.id}' (format {spec.format}) has outputs [{found}], "
        f"expected one output {expected.describe()}"
    )
    if classes is not None:
        message += f"; with its {classes} labels {expected.describe(classes)}"
    raise ModelFormatError(
        message, place=f"models '{spec.id}' field 'format'", hint=_hint(expected, shapes, classes)
    )


def _hint(expected: Layout, shapes: list[Shape], classes: int | None) -> str:
    if len(shapes) != 1:
        return (
            "a detector exported without NMS has one output; "
            "a YOLO segmentation model is task instance_segmentation"
        )
    (shape,) = shapes
    fitting = [name for name, layout in LAYOUTS.items() if layout.fits(shape, classes)]
    nms_inside = len(shape) == 3 and shape[-1] == 6
    nms_hint = (
        "an output (1, boxes, 6) is usually an export with NMS inside the model: export again "
        "without it (Ultralytics: nms=False; YOLOv10 / YOLO26: end2end=False)"
    )
    if fitting:
        text = f"this output fits format {' or '.join(fitting)}"
        return f"{text}; {nms_hint}" if nms_inside and classes is None else text
    if expected.fits(shape, None):  # the layout, but fewer classes than the labels name
        room = (expected.split(shape)[0] or 0) - expected.extra
        return (
            f"the labels name {classes} classes, more than the {room} of this output: "
            "give the model's own class names, in its order"
        )
    if nms_inside:
        return nms_hint
    layouts = "; ".join(f"{name} {layout.describe()}" for name, layout in LAYOUTS.items())
    return f"the detector layouts visionflow reads: {layouts}"
