"""``visionflow run-video``: a workflow over video files, image folders, cameras and streams."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any

import typer

from visionflow.cli._printing import reported
from visionflow.cli._serve import ModelMaps, map_models

REFRESH_S = 0.25  # how often the progress line is redrawn


class Decoder(enum.StrEnum):  # open_source's decoder values, as the CLI lists them
    auto = "auto"
    opencv = "opencv"
    pyav = "pyav"


def run_video(
    workflow: Annotated[Path, typer.Argument(help="The workflow document.")],
    sources: Annotated[
        list[str],
        typer.Argument(
            metavar="SOURCE...",
            help="Video files, folders or globs of images ('frames/*.png'), webcam indexes "
            "(0), rtsp:// or http(s):// streams. Several: their frames run together, one "
            "batch element each.",
        ),
    ],
    output_video: Annotated[
        Path | None,
        typer.Option(
            help="Write the workflow's image output as a video (.mp4, or .avi for Motion "
            "JPEG), at the source's fps; with several sources, one file each "
            "(out-<source name>.mp4)."
        ),
    ] = None,
    video_output: Annotated[
        str | None,
        typer.Option(help="The image output to write, if the workflow has several."),
    ] = None,
    jsonl: Annotated[
        Path | None,
        typer.Option(
            help="Write one JSON line per frame (source, frame_number, frame_timestamp, "
            "outputs, error). Without --jsonl or --output-video, the lines go to stdout."
        ),
    ] = None,
    max_fps: Annotated[
        float | None,
        typer.Option(min=0.001, help="Run at most this many batches of frames a second."),
    ] = None,
    every_nth: Annotated[
        int, typer.Option(min=1, help="Read every n-th frame of a file (live sources: all).")
    ] = 1,
    decoder: Annotated[
        Decoder,
        typer.Option(
            help="What reads video files: auto (OpenCV, then PyAV if OpenCV cannot read "
            "the file and PyAV is installed), opencv or pyav (the video extra)."
        ),
    ] = Decoder.auto,
    image_input: Annotated[
        str | None, typer.Option(help="The image input frames go to, if the workflow has several.")
    ] = None,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="No live progress line on stderr.")
    ] = False,
    model_maps: ModelMaps = None,
) -> None:
    """Run a workflow on every frame of videos, image sequences, cameras or streams.

    Files give every frame (or every --every-nth); live sources their latest frame, and a
    lost stream reconnects. A progress line shows frames and fps per source.

    A WorkflowVideoMetadata input gets each frame's video, number, time and fps; trackers
    and zones keep their state per source. It ends when every file has ended.

    Ctrl-C stops it cleanly (exit code 130): every frame processed is in --jsonl and
    --output-video. A frame whose run fails is reported and skipped (exit code 1); a
    source that fails (a corrupt image in a folder) ends, reported (exit code 1), and the
    others go on.
    """
    from visionflow import Workflow
    from visionflow.streams.sinks import JsonLinesSink, VideoFileSink

    with reported():
        map_models(model_maps)
        compiled = Workflow.compile(workflow)
        sinks: list[Any] = []
        if output_video is not None:
            sinks.append(VideoFileSink(output_video, image_output=video_output))
        if jsonl is not None or output_video is None:
            sinks.append(JsonLinesSink(jsonl if jsonl is not None else "-"))
        pipeline = compiled.stream(
            sources,
            max_fps=max_fps,
            image_input=image_input,
            sinks=sinks,
            source_options={"every_nth": every_nth, "decoder": decoder.value},
        )
        interrupted = _follow(pipeline, progress=not no_progress)
    _report(pipeline, sinks)
    if interrupted:
        raise typer.Exit(130)  # the shell's code for a stop by Ctrl-C
    if any(source.failed or source.error for source in pipeline.status().sources):
        raise typer.Exit(1)


def _follow(pipeline: Any, progress: bool) -> bool:
    """Start the pipeline and wait for it, drawing the progress line; whether Ctrl-C
    stopped it. Started inside the ``try``: a Ctrl-C at any moment of the run is a stop."""
    from rich.text import Text

    live = None
    if progress:
        from rich.console import Console
        from rich.live import Live

        console = Console(stderr=True)
        if console.is_terminal:  # redrawn in place; a file or pipe gets the summary only
            live = Live(console=console, refresh_per_second=1 / REFRESH_S)
            live.start()
    try:
        pipeline.start()
        while not pipeline.join(REFRESH_S):
            if live is not None:
                live.update(Text(progress_line(pipeline.status())))  # Text: no markup
        return False
    except KeyboardInterrupt:
        pipeline.stop()  # the batch in progress still reaches the sinks, then they close
        _join_through_interrupts(pipeline)
        return True
    finally:
        if live is not None:
            live.update(Text(progress_line(pipeline.status())))
            live.stop()


def _join_through_interrupts(pipeline: Any) -> None:
    """Wait for the sinks to close: a second Ctrl-C (impatience) would leave the video
    unreadable, so it only says so; a third quits at once."""
    warned = False
    while True:
        try:
            pipeline.join()
            return
        except KeyboardInterrupt:
            if warned:
                raise
            warned = True
            typer.echo("stopping: closing the outputs; Ctrl-C again quits without", err=True)


def progress_line(status: Any) -> str:
    """``a.mp4 120 frames 29.8 fps · cam 55 frames 12.0 fps 3 dropped`` (and failures)."""
    parts = []
    for source in status.sources:
        fps = f" {source.fps:.1f} fps" if source.fps is not None else ""
        extra = "".join(
            f" {count} {word}"
            for count, word in (
                (source.failed, "failed"),
                (source.dropped, "dropped"),
                (source.reconnects, "reconnects"),
            )
            if count
        )
        parts.append(f"{source.source} {source.processed} frames{fps}{extra}")
    return f"{status.state}: " + " · ".join(parts)


def _report(pipeline: Any, sinks: list[Any]) -> None:
    from types import SimpleNamespace

    from visionflow.cli._printing import print_error

    status = pipeline.status()
    for source in status.sources:
        if source.error is not None:  # the source itself failed (a corrupt image, ...)
            print_error(SimpleNamespace(**source.error))
        failed = f", {source.failed} failed ({source.last_error})" if source.failed else ""
        typer.echo(
            f"{source.source}: {source.processed} frames processed, {source.dropped} dropped"
            f"{failed}",
            err=True,
        )
    for sink in sinks:
        for path in getattr(sink, "paths", lambda: {})().values():
            if path.exists():  # a source that gave no frame has no video
                typer.echo(f"video written to {path}", err=True)
