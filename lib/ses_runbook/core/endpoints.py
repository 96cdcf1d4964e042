"""botocore's data, read once per process and trimmed to the services the runbook calls.

The parameter model validates a region against the same endpoint data the AWS client resolves
with, so both take it from here. What is cached is botocore's static model and endpoint files,
never an answer from AWS: it is the same for every run in a process.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from typing import Any

import botocore.exceptions
import botocore.loaders
from botocore.regions import EndpointResolver

# The key of each service the runbook calls in botocore's endpoints.json (its endpointPrefix).
ENDPOINT_PREFIXES = {
    "ses": "email",
    "sesv2": "email",
    "cloudwatch": "monitoring",
    "iam": "iam",
    "sts": "sts",
    "sns": "sns",
    "sqs": "sqs",
    "s3": "s3",
    "athena": "athena",  # the event store's engine for a fleet (sources/events.py)
    "firehose": "firehose",  # a configuration set's event destination (feedback.notifications)
}


class _JSONFileLoader(botocore.loaders.JSONFileLoader):
    """botocore's model files read into plain dicts: botocore asks for OrderedDicts, which take
    three times as long to build (23 ms instead of 7 for the endpoint file), and dicts keep order."""

    def _load_file(self, full_path: str, open_method: Any) -> Any:
        if not os.path.isfile(full_path):
            return None
        with open_method(full_path, "rb") as fp:
            return json.loads(fp.read().decode("utf-8"))


class _KnownServices(Sequence):
    """The services a loader knows, as botocore lists them, but answering ``name in`` (all that
    loading a model asks) from that service's own folders: botocore lists every folder of its
    445 services for each kind of file it loads, 30 ms of a ``check``."""

    def __init__(self, loader: _Loader, type_name: str) -> None:
        self._loader, self._type_name = loader, type_name

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str) or not name or os.sep in name or name.startswith("."):
            return False
        for folder in self._loader._potential_locations(name, must_exist=True, is_dir=True):
            for version in os.listdir(folder):
                if self._loader.file_loader.exists(os.path.join(folder, version, self._type_name)):
                    return True
        return False

    @functools.cached_property
    def _all(self) -> list[str]:
        return botocore.loaders.Loader.list_available_services(self._loader, self._type_name)

    def __getitem__(self, index: Any) -> Any:
        return self._all[index]

    def __len__(self) -> int:
        return len(self._all)


class _Loader(botocore.loaders.Loader):
    FILE_LOADER_CLASS = _JSONFileLoader

    def list_available_services(self, type_name: str) -> Sequence[str]:  # type: ignore[override]
        return _KnownServices(self, type_name)


@functools.lru_cache(maxsize=1)
def loader() -> Any:
    """One botocore data loader for the process: models and endpoint data are read once.
    Made as ``botocore.loaders.create_loader`` makes a session's (``AWS_DATA_PATH`` first)."""
    extra = os.environ.get("AWS_DATA_PATH")
    return _Loader(
        extra_search_paths=[os.path.expanduser(os.path.expandvars(p)) for p in extra.split(os.pathsep)]
        if extra
        else None
    )


@functools.lru_cache(maxsize=1)
def endpoint_resolver() -> Any:
    """botocore's endpoint resolver over the runbook's own services, shared by every session.

    Every botocore session otherwise holds all of endpoints.json (each service of each partition,
    1.2 MB on disk, about 12 MiB parsed), the largest thing botocore keeps in a notebook kernel.
    The partitions and the entries of the services in ``ENDPOINT_PREFIXES`` are kept as they are,
    so those resolve exactly as with the whole file; the file is read the way botocore's loader
    reads it (first search path that has it), without entering the loader's cache.
    """

    data_loader = loader()
    for folder in data_loader.search_paths:
        path = f"{folder}/endpoints"
        data = data_loader.file_loader.load_file(path)
        if data is not None:
            break
    else:
        raise botocore.exceptions.DataNotFoundError(data_path="endpoints")
    keep = set(ENDPOINT_PREFIXES.values())
    for partition in data["partitions"]:
        partition["services"] = {name: entry for name, entry in partition["services"].items() if name in keep}
    return EndpointResolver(data, uses_builtin_data=data_loader.is_builtin_path(path))


@functools.lru_cache(maxsize=1)
def ses_regions() -> frozenset[str]:
    """Regions in which botocore knows an SES endpoint, in every partition.

    Read from the process's endpoint resolver under SES's endpoint prefix, as a session's
    ``get_available_regions`` would, without building a session or loading a service model.
    """
    resolver = endpoint_resolver()
    prefixes = {ENDPOINT_PREFIXES["ses"], ENDPOINT_PREFIXES["sesv2"]}
    return frozenset(
        region
        for partition in resolver.get_available_partitions()
        for prefix in prefixes
        for region in resolver.get_available_endpoints(prefix, partition)
    )
