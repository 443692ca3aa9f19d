"""Video and streams: frame sources (``visionflow.streams.sources``) feeding workflows.

Imported only when used (OpenCV and threads come with it), never by ``import visionflow``.
"""
