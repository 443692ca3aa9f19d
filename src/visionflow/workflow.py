"""The public entry point: ``Workflow.compile(definition)`` then ``workflow.run(...)``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from visionflow.blocks.api import Block
from visionflow.blocks.loader import load_registry, plugin_modules
from visionflow.compiler import PlanCache, compile_plan, definition_hash
from visionflow.compiler.plan import Plan
from visionflow.data.image import as_channel_order
from visionflow.data.sources import LOCAL, ImagePolicy
from visionflow.dialects import to_definition
from visionflow.engine import Executor
from visionflow.engine.inputs import IMAGE_KINDS
from visionflow.inspection.active import ACTIVE as _inspecting

if TYPE_CHECKING:
    from visionflow.inspection import Inspection
    from visionflow.models.library import ModelLimits
    from visionflow.streams.pipeline import VideoPipeline

_cache: PlanCache[Workflow] = PlanCache()  # thread-safe: it holds its own lock


class Workflow:
    """A compiled workflow: checked once, cheap to run many times.

    >>> workflow = Workflow.compile({"inputs": [{"type": "parameter", "name": "x"}],
    ...     "outputs": [{"type": "JsonField", "name": "x", "selector": "$inputs.x"}]})
    >>> workflow.run(x=3)
    [{'x': 3}]
    """

    def __init__(
        self,
        plan: Plan,
        max_concurrent_steps: int | None = None,
        image_policy: ImagePolicy = LOCAL,
    ):
        self.plan = plan
        self._executor = Executor(plan, max_concurrent_steps, image_policy)
        self._express = self._executor.express  # one element through plain steps: straight

    @classmethod
    def compile(
        cls,
        definition: Any,
        *,
        blocks: Sequence[type[Block]] = (),
        init_parameters: dict[str, Any] | None = None,
        dialect: str | None = None,
        max_concurrent_steps: int | None = None,
        cache: bool = True,
        allow_custom_code: bool = True,
        model_limits: ModelLimits | None = None,
        image_policy: ImagePolicy | None = None,
        load_models: bool = True,
    ) -> Workflow:
        """Check ``definition`` (dict, JSON/YAML text or file path) and build its plan.

        Raises a ``CompilationError`` subclass naming the place of the first mistake.
        ``allow_custom_code=False`` refuses documents that carry Python code (dynamic
        blocks, custom step files, imported functions) or name model files by path (zoo
        ids and VISIONFLOW_MODELS models stay allowed): do that for documents from others.
        ``model_limits`` (``visionflow.models.library.ModelLimits``) caps what the document's
        models may ask for (workers, threads, batch and queue sizes); none by default.
        ``image_policy`` (``visionflow.ImagePolicy``) says which files and URLs images
        (inputs, their ``default_value``, values a model is called on) may come from and
        the largest image; by default any readable file, no URLs, 100 megapixels.
        ``load_models=False`` checks each model's file, task, format and outputs without
        starting its sessions (what ``visionflow validate`` does): the errors are the same,
        and a model loads on its first call if the workflow is run.
        Plans are cached by the definition's content, blocks and init parameters.
        """
        parsed = to_definition(definition, dialect)
        key = (
            definition_hash(parsed),
            tuple(id(block) for block in blocks),
            tuple(sorted((name, id(value)) for name, value in (init_parameters or {}).items())),
            plugin_modules(),
            max_concurrent_steps,
            allow_custom_code,
            model_limits,  # frozen and compared by value: equal limits share the plan
            image_policy or LOCAL,  # frozen too: the default and an equal policy share
            load_models,
        )
        if cache and (workflow := _cache.get(key)) is not None:
            return workflow
        registry = load_registry()
        blocks = list(blocks)
        if parsed.dynamic_blocks_definitions:
            from visionflow.blocks.dynamic import build_dynamic_blocks

            blocks += build_dynamic_blocks(
                parsed.dynamic_blocks_definitions,
                allow_custom_code=allow_custom_code,
                taken=registry.with_blocks(blocks).by_type,  # a document never replaces a block
            )
        if blocks:
            registry = registry.with_blocks(blocks)
        plan = compile_plan(
            parsed,
            registry,
            init_parameters,
            allow_custom_code=allow_custom_code,
            model_limits=model_limits,
            image_policy=image_policy or LOCAL,  # for blocks that load images (ModelCall)
            load_models=load_models,
        )
        workflow = cls(plan, max_concurrent_steps, image_policy or LOCAL)
        if cache:
            _cache.put(key, workflow)
        return workflow

    def run(
        self,
        inputs: dict[str, Any] | None = None,
        /,
        *,
        serialize: bool = False,
        channel_order: str = "bgr",
        **kwargs: Any,
    ) -> list[dict[str, Any]]:
        """Run on inputs given as a dict and/or keywords; one result dict per input element.

        A list of images is a batch; one image is a batch of one. An image is an array
        (BGR, as OpenCV's; ``channel_order="rgb"`` for RGB arrays such as Pillow's or
        matplotlib's), a PIL image, encoded bytes, a file path or base64. With
        ``serialize=True`` the results are JSON-ready (images as base64, detections as dicts).
        """
        given = {**inputs, **kwargs} if inputs else kwargs  # kwargs: a dict of its own
        if channel_order != "bgr":
            given = self._images_in_bgr(given, channel_order)
        inspection = _inspecting.get()
        if inspection is not None and inspection.workflow is self:
            results = inspection.record(self._executor.run, given)
        elif self._express is None or (results := self._express.run(given)) is None:
            results = self._executor.run(given)  # not one element through plain steps
        if serialize:
            from visionflow.serialization import serialize as to_json

            return to_json(results)
        return results

    def _images_in_bgr(self, given: dict[str, Any], channel_order: str) -> dict[str, Any]:
        as_channel_order(None, channel_order, "channel_order")  # an unknown order: an error
        images = {
            item.name
            for item in self.plan.inputs
            if item.type == "image" or item.kinds == IMAGE_KINDS
        }
        return {
            name: as_channel_order(value, channel_order, f"inputs '{name}'")
            if name in images
            else value
            for name, value in given.items()
        }

    @contextmanager
    def inspected(self) -> Iterator[Inspection]:
        """Record the runs of this workflow made inside the block (in this thread or
        context): each step's time, thread, element counts and a preview of its outputs.

        >>> with workflow.inspected() as inspection:  # doctest: +SKIP
        ...     results = workflow.run(image=picture)
        >>> inspection.last.step("detect").ran  # doctest: +SKIP
        1
        >>> inspection.write_html("run.html")  # doctest: +SKIP
        """
        from visionflow.inspection import Inspection

        with Inspection(self).active() as inspection:
            yield inspection

    def end_video(self, video_id: str) -> bool:
        """Forget the state this workflow's stateful steps (trackers, zones, motion) keep
        for ``video_id``: its source ended. Whether there was any."""
        states = self.plan.video_states
        return states.end(video_id) if states is not None else False

    def stream(self, sources: Any, **options: Any) -> VideoPipeline:
        """A pipeline running this workflow on the frames of ``sources`` (video files,
        folders of images, webcams, RTSP/HTTP URLs, or FrameSource objects), several
        sources' frames batched into one run; options as ``VideoPipeline``'s.

        >>> for result in workflow.stream("traffic.mp4"):  # doctest: +SKIP
        ...     print(result.frame_number, result.outputs)
        """
        from visionflow.streams.pipeline import VideoPipeline

        return VideoPipeline(self, sources, **options)

    def _repr_html_(self) -> str:
        """The workflow's graph, drawn where a notebook shows this object (inline SVG; the
        compiled plan is only read, so this is as quick as printing)."""
        from visionflow.graphs.workflow_graph import plan_graph
        from visionflow.graphs.workflow_page import render_fragment

        return render_fragment(plan_graph(self.plan))

    @property
    def inputs(self) -> dict[str, dict[str, Any]]:
        """The declared inputs: name -> type, kinds, default, dimensionality."""
        return {
            item.name: {
                "type": item.type,
                "kinds": sorted(item.kinds),
                "has_default": "default_value" in item.model_fields_set,
                "default_value": item.default_value,
                "dimensionality": item.dimensionality if item.is_batch_oriented else 0,
            }
            for item in self.plan.inputs
        }

    @property
    def outputs(self) -> dict[str, dict[str, Any]]:
        """The declared outputs: name -> selector, kinds, nesting."""
        return {
            output.name: {
                "selector": output.selector,
                "kinds": sorted(output.source.kinds),
                "dimensionality": output.source.dimensionality,
            }
            for output in self.plan.outputs
        }


def clear_cache() -> None:
    """Forget every cached compiled workflow (e.g. after changing plugins)."""
    _cache.clear()
