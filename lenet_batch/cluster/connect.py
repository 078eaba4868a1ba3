"""Reach Ray: join the cluster at an address, or start a local one on 127.0.0.1; a failure is tried once
more after a short pause, then it is ClusterUnavailable (exit 9) with one line naming the cause.

A Ray that cannot be started or reached is the infrastructure's trouble, not a bug and not a usage error:
monitoring tells it apart by its exit code.
"""

import contextlib
import logging
import math
import os
import time
from collections.abc import Iterator

import ray

from lenet_batch.checks import shown_address
from lenet_batch.cluster import reaper
from lenet_batch.cluster.held_signals import STOP_SIGNAL, signals_held
from lenet_batch.cluster.preflight import check_reachable
from lenet_batch.errors import ClusterUnavailable

log = logging.getLogger(__name__)
RETRY_PAUSE = 2.0
# Ray waits this long for its raylet to register at start (its default, 10 s a try within a 30 s loop,
# is too short for a 2-core machine at load 17: "The current node timed out during startup").
START_WAIT_SECONDS = 120
START_WAIT_VARIABLE = "RAY_raylet_start_wait_time_s"
# Ray's own settings for a local Ray (environment variables its processes read): see prepare_local.
LOCAL_SETTINGS = {
    START_WAIT_VARIABLE: str(START_WAIT_SECONDS),
    "RAY_enable_metrics_collection": "0",  # no metrics exported to the agents (nobody scrapes them)
    "REPORTER_UPDATE_INTERVAL_MS": "60000",  # DashboardAgent's node stats, for a dashboard not started
    "METRICS_RECORD_INTERVAL_S": "60",
    "SCAN_EVENT_DIR_INTERVAL_SECONDS": "60",  # the agent's scan for dashboard events
    "AUTOSCALER_UPDATE_INTERVAL_S": "60",  # a local Ray of fixed size: nothing to scale
}
# Ray's own connect loop when joining: about one try a second for this many tries (default 20).
JOIN_WAIT_VARIABLE = "RAY_gcs_server_port_wait_time_s"
# Ray 2.60 logs, on every local start, that token auth is on and where it saved a new token.
TOKEN_SETUP_LOGGER = "ray._private.authentication.authentication_token_setup"


def join(address: str, timeout: float) -> None:
    """Join the cluster at `address` within `timeout` s, trying twice; else ClusterUnavailable."""
    deadline = time.monotonic() + timeout
    for attempt in (1, 2):
        try:
            _join_once(address, deadline, timeout)
            return
        except ClusterUnavailable as exc:
            left = deadline - time.monotonic()
            if attempt == 2 or left < RETRY_PAUSE + 1:
                raise ClusterUnavailable(f"{exc} ({_tries(attempt)})") from None
            log.info("%s; trying once more in %g s", exc, RETRY_PAUSE)
            time.sleep(RETRY_PAUSE)


def _join_once(address: str, deadline: float, timeout: float) -> None:
    target = resolve(address)
    check_reachable(target, deadline - time.monotonic(), timeout, shown=_named(address, target))
    left = max(1, math.ceil(deadline - time.monotonic()))
    try:
        # Ray's own connect loop stops with our deadline; a signal meanwhile is handled once it is done
        with _environ({JOIN_WAIT_VARIABLE: str(left)}), signals_held(STOP_SIGNAL):
            ray.init(address=target, log_to_driver=True)
    except Exception as exc:  # noqa: BLE001 - whatever Ray raised: the cluster is not usable from here
        _clean_up()
        named = _named(address, target)
        raise ClusterUnavailable(f"--address {named}: Ray could not join ({_cause(exc)})") from None
    log.info("joined Ray cluster at %s: %s", _named(address, target), ray.cluster_resources())


def resolve(address: str) -> str:
    """The address Ray would join for `address`: 'auto' is looked up as Ray does (RAY_ADDRESS, the last
    cluster started on this machine, a running GCS), so that it is checked like any other address."""
    if address != "auto":
        return address
    from ray._private.services import get_ray_address_from_environment

    try:
        found = get_ray_address_from_environment("auto", None)
    except (ConnectionError, ValueError) as exc:
        raise ClusterUnavailable(f"--address auto: {_cause(exc)}") from None
    if not found:
        raise ClusterUnavailable("--address auto: no running Ray cluster found on this machine")
    return found


def start_local(num_cpus: int) -> None:
    """Start a local Ray on 127.0.0.1, trying twice; else ClusterUnavailable naming Ray's error."""
    for attempt in (1, 2):
        try:
            _start_once(num_cpus)
            return
        except Exception as exc:  # noqa: BLE001 - whatever Ray raised while starting: infrastructure
            _clean_up()
            if attempt == 2:
                raise ClusterUnavailable(
                    f"could not start a local Ray ({_cause(exc)}; {_tries(attempt)}); check the machine's "
                    "load, memory and free space in its temp folder, or give --address of a running cluster"
                ) from None
            log.info("could not start a local Ray (%s); trying once more in %g s", _cause(exc), RETRY_PAUSE)
            time.sleep(RETRY_PAUSE)


def _start_once(num_cpus: int) -> None:
    logger = logging.getLogger(TOKEN_SETUP_LOGGER)
    level = logger.level
    logger.setLevel(logging.ERROR)  # token auth stays on; its notice says nothing to act on here
    try:
        with signals_held(STOP_SIGNAL):  # a start cut short leaves Ray half set up: see held_signals
            ray.init(
                num_cpus=num_cpus, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=True
            )
    finally:
        logger.setLevel(level)


def prepare_local() -> None:
    """Settings for a local Ray, read by ray.init and inherited by every process it starts.

    Loopback only: ray.init maps 127.0.0.1 to the host's address and listens on every interface unless it
    treats the host as single-node, as it does on macOS/Windows (the constant is read at call time; a
    driver joining a cluster must give the nodes its real address, so it is set here only). Then Ray's own
    settings for a Ray nobody watches: no dashboard (ray.init), no metrics, and the agents' and the
    autoscaler's periodic reports once a minute; an operator's own values win.
    """
    import ray._private.ray_constants as ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    for name, value in LOCAL_SETTINGS.items():
        os.environ.setdefault(name, value)


def _clean_up() -> None:
    """After a failed ray.init: whatever it started is stopped (a half-started node keeps no handle)."""
    with contextlib.suppress(Exception):
        ray.shutdown()
    reaper.sweep_own()


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """Environment variables for the block (Ray reads these at the call), the old values restored after."""
    old = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _named(address: str, target: str) -> str:
    shown = shown_address(address)
    return shown if target == address else f"{shown} ({target})"


def _cause(exc: BaseException) -> str:
    """'Type: first line of the message' of an error Ray raised."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _tries(attempt: int) -> str:
    return "tried twice" if attempt == 2 else "no time left to try again"
