"""Running workflows on a Ray cluster (the ``ray`` extra): datasets on Ray Data, serving
on Ray Serve. Ray itself is imported only inside the functions that use it, so importing
this package (or ``visionflow``) never imports Ray.
"""

from visionflow.distributed.cluster import connect, require_ray
from visionflow.distributed.scaling import RayScaling, scaling_of

__all__ = ["RayScaling", "connect", "require_ray", "scaling_of"]
