"""``visionflow serve --ray``: the same HTTP API, served by Ray Serve.

One application, ``visionflow``: an ingress deployment runs the server's own FastAPI app
(``create_app``: every path, error, limit, the API key and the metrics are the local
server's), which checks and decodes each run request as locally, then hands the run to a
workflow deployment: one per workflow registered when serving starts, one shared by
inline documents (and workflows registered later). Each workflow deployment autoscales
between the minimum and maximum replicas of ``scaling_of(workflow)`` and merges
concurrent requests with ``@serve.batch`` (``serving_batches``). A replica that dies
mid-request is replaced by Serve; the ingress sends the request again (a few times at most),
so the client gets one answer.

Ray is imported inside the functions: this module is imported only by ``--ray`` paths.

>>> url = start(ServerSettings(port=9001), "127.0.0.1:6379")  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from visionflow.distributed.cluster import (
    absolute_model_maps,
    connect,
    forwarded_environment,
    require_ray,
)
from visionflow.distributed.scaling import RayScaling, scaling_of
from visionflow.distributed.serving_batches import Job, Outcome, run_jobs
from visionflow.server.settings import ServerSettings

if TYPE_CHECKING:
    from visionflow.server.state import ServerState
    from visionflow.workflow import Workflow

APP_NAME = "visionflow"
SHARED = "inline-documents"
"""The workflow deployment of inline documents (and of workflows registered later)."""
# serve's flags for the scaling figures, named by errors in them
SERVE_FLAGS = {
    "min_actors": "--min-replicas",
    "max_actors": "--max-replicas",
    "batch_size": "--replica-batch-size",
    "max_batch_delay_s": "--replica-batch-delay-ms",
    "num_cpus": "--replica-cpus",
}
RETRIES = 8
"""How many times the ingress sends a run again whose replica died under it (waiting
0.5 s more each time, at most 3 s: about 16 s in all, for Serve to start another)."""
# A document with no models: what inline documents scale by (their models are unknown
# when serving starts), before the command line's overrides.
_NO_MODELS = {"inputs": [], "steps": [], "outputs": []}


@dataclass(frozen=True)
class ServeOptions:
    """What the command line may say about the replicas (None: the workflow's own figure,
    from its models' performance properties; see ``scaling_of``)."""

    min_replicas: int | None = None
    max_replicas: int | None = None
    batch_size: int | None = None
    max_batch_delay_s: float | None = None
    replica_cpus: float | None = None

    def scaling(self, workflow: Workflow) -> RayScaling:
        return scaling_of(
            workflow,
            places=SERVE_FLAGS,
            min_actors=self.min_replicas,
            max_actors=self.max_replicas,
            batch_size=self.batch_size,
            max_batch_delay_s=self.max_batch_delay_s,
            num_cpus=self.replica_cpus,
        )


class WorkflowReplica:
    """A workflow deployment's replica: compiles the documents it is sent (as the server
    would, cached) and runs them, concurrent requests merged into one run."""

    def __init__(self, settings: ServerSettings, scaling: RayScaling):
        from ray import serve

        _replica_server_on_loopback()
        # the replica's own state: model limits and mappings, compiled documents; its
        # store is a temporary folder (the registered files live with the ingress)
        self.state = _replica_state(settings)
        batched = serve.batch(
            max_batch_size=scaling.batch_size, batch_wait_timeout_s=scaling.max_batch_delay_s
        )
        self.run_batch = batched(self._run_batch)

    async def __call__(self, job: Job) -> Outcome:
        return await self.run_batch(job)

    async def _run_batch(self, jobs: list[Job]) -> list[Outcome]:
        # CPU work on a thread: the replica keeps taking (and queueing) requests meanwhile
        return await asyncio.to_thread(run_jobs, jobs, self._compile)

    def _compile(self, job: Job) -> Workflow:
        return self.state.compile(job.document, job.dialect)


def _replica_server_on_loopback() -> None:
    """On a node whose address is 127.0.0.1 (a cluster kept on this machine), make the
    replica's gRPC server for calls between deployments listen there too.

    Ray Serve 2.x starts that server on ``[::]:0``, every interface, whatever the node's
    address, right after the replica's constructor (this is called from it). Other nodes
    reach a replica at its node's address, so a loopback node loses nothing by it; on any
    other node, or a Ray without that hook, Serve's own choice stands.
    """
    import ray
    from ray.serve._private import replica

    original = getattr(replica, "add_port_to_grpc_server", None)
    if original is None or ray.util.get_node_ip_address() != "127.0.0.1":
        return
    if getattr(original, "keeps_loopback", False):
        return

    def add_port(server: Any, address: str) -> int:
        return original(server, "127.0.0.1:0" if address == "[::]:0" else address)

    add_port.keeps_loopback = True  # type: ignore[attr-defined]
    replica.add_port_to_grpc_server = add_port


def _replica_state(settings: ServerSettings) -> ServerState:
    from visionflow.server.state import ServerState

    return ServerState.create(replace(settings, workflows_dir=None))


class Ingress:
    """The HTTP side: the server's app, whose runs go to the workflow deployments."""

    def __init__(self, settings: ServerSettings, workflows: dict[str, Any], shared: Any):
        _replica_server_on_loopback()
        self.settings = settings
        self.workflows = workflows  # registered name -> DeploymentHandle
        self.shared = shared

    def __serve_build_asgi_app__(self) -> Any:  # called by Serve on the replica
        from visionflow.server.app import create_app

        app = create_app(self.settings)
        state: ServerState = app.state.visionflow
        state.runner = RemoteRuns(state, self.workflows, self.shared)
        return app


class RemoteRuns:
    """``ServerState.runner`` on the ingress: a decoded request -> its workflow deployment."""

    def __init__(self, state: ServerState, workflows: dict[str, Any], shared: Any):
        self.state = state
        self.workflows = workflows
        self.shared = shared
        self._documents: dict[Any, tuple[Any, str | None]] = {}

    async def __call__(
        self,
        body: Any,
        registered: dict[str, Any] | None,
        workflow: Workflow,
        inputs: dict[str, Any],
    ) -> list[Any]:
        from visionflow.server.state import document_key

        if registered is None:
            document, dialect, handle = body.workflow, body.dialect, self.shared
        else:
            import anyio

            name, version = registered["name"], registered["version"]
            document, dialect = await anyio.to_thread.run_sync(self._stored, name, version)
            handle = self.workflows.get(name, self.shared)
        job = Job(document_key(document, dialect), document, dialect, inputs)
        outputs, failure = await self._send(handle, job)
        if failure is not None:
            raise failure.error()
        assert outputs is not None
        return outputs

    def _stored(self, name: str, version: int) -> tuple[Any, str | None]:
        """A registered version's document, read again only when its file changed."""
        store = self.state.store
        stored = store.version(name, version)
        stat = stored.path.stat()
        key = (stored.path, stat.st_mtime_ns, stat.st_size)
        if key not in self._documents:
            self._documents[key] = (store.document(stored), stored.dialect)
        return self._documents[key]

    async def _send(self, handle: Any, job: Job) -> Outcome:
        from ray.exceptions import RayActorError
        from ray.serve.exceptions import ReplicaUnavailableError

        for attempt in range(RETRIES + 1):
            try:
                return await handle.remote(job)
            except (RayActorError, ReplicaUnavailableError) as error:
                # the replica died under the run: Serve starts another; send it again
                if attempt == RETRIES:
                    raise
                logging.getLogger("visionflow.server").warning(
                    "a replica died under a run (%s); sending it again", type(error).__name__
                )
                await asyncio.sleep(min(0.5 * (attempt + 1), 3.0))
        raise AssertionError("unreachable")


def application(settings: ServerSettings, options: ServeOptions | None = None) -> Any:
    """The Serve application: the ingress and the workflow deployments, to ``serve.run``."""
    from ray import serve

    options = options or ServeOptions()
    workflows = {
        name: _workflow_deployment(f"workflow-{name}", settings, options, workflow)
        for name, workflow in _registered(settings).items()
    }
    shared = _workflow_deployment(SHARED, settings, options, _no_models())
    ingress = serve.deployment(
        serve.ingress()(Ingress),
        name="ingress",
        num_replicas=1,
        max_ongoing_requests=10_000,  # the server's own limits apply inside
        ray_actor_options={"num_cpus": 0, **_environment()},
    )
    return ingress.bind(settings, workflows, shared)


def _environment() -> dict[str, Any]:
    """The replicas run with this process's visionflow variables (plugins, switches, keys),
    as ``serve`` would here."""
    variables = forwarded_environment()
    return {"runtime_env": {"env_vars": variables}} if variables else {}


def _registered(settings: ServerSettings) -> dict[str, Workflow]:
    """The newest version of each workflow registered now, compiled as the server would."""
    from visionflow.server.state import ServerState

    store = ServerState.create(settings).store
    return {name: store.workflow(name)[1] for name in store.names()}


def _no_models() -> Workflow:
    from visionflow.workflow import Workflow

    return Workflow.compile(_NO_MODELS, cache=False)


def _workflow_deployment(
    name: str, settings: ServerSettings, options: ServeOptions, workflow: Workflow
) -> Any:
    from ray import serve

    scaling = options.scaling(workflow)
    deployment = serve.deployment(
        WorkflowReplica,
        name=name,
        # room for a batch running and the next one gathering
        max_ongoing_requests=max(2 * scaling.batch_size, 8),
        autoscaling_config={
            "min_replicas": scaling.min_actors,
            "max_replicas": scaling.max_actors,
            "target_ongoing_requests": scaling.batch_size,
        },
        ray_actor_options={"num_cpus": scaling.num_cpus, **_environment()},
    )
    return deployment.bind(settings, scaling)


def start(
    settings: ServerSettings, address: str | None, options: ServeOptions | None = None
) -> str:
    """Connect to the cluster at ``address`` (None: a Ray started here), start Serve's HTTP
    proxy on ``settings.host``/``port`` and deploy; the URL served. ``stop()`` ends it."""
    require_ray()
    from ray import serve

    connect(address)
    settings = _absolute_paths(settings)
    serve.start(http_options={"host": settings.host, "port": settings.port})
    serve.run(application(settings, options), name=APP_NAME, route_prefix="/")
    return f"http://{settings.host}:{settings.port}"


def _absolute_paths(settings: ServerSettings) -> ServerSettings:
    """The settings with absolute paths (workflows folder, allowed folders, models): the
    ingress and the replicas run in Ray's workers, whose working folder is not this one."""
    return replace(
        settings,
        workflows_dir=settings.workflows_dir and settings.workflows_dir.expanduser().resolve(),
        allowed_paths=tuple(path.expanduser().resolve() for path in settings.allowed_paths),
        models=absolute_model_maps(settings.models),
    )


def stop() -> None:
    """Take the application and Serve down (the cluster stays)."""
    from ray import serve

    serve.shutdown()


def serve_forever(
    settings: ServerSettings, address: str | None, options: ServeOptions | None = None
) -> None:
    """``visionflow serve --ray``: serve until interrupted (Ctrl-C or SIGTERM), then stop.
    A signal while the deployments start stops them once they have started."""
    import threading

    connect(address)  # first: Ray installs its own signal handlers as it connects
    stopping = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stopping.set())
    try:
        url = start(settings, address, options)
        print(f"visionflow serving on {url} from Ray Serve (Ctrl-C stops it)", flush=True)
        while not stopping.wait(0.5):
            pass
    finally:
        stop()
