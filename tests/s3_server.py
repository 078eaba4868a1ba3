"""An S3 endpoint on 127.0.0.1 for tests: moto's threaded server, fake credentials, one fresh bucket.

conftest registers the `s3_endpoint` fixture (pytest_plugins); tests just ask for it.
"""

import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
import s3fs
from moto.server import ThreadedMotoServer

from tests.helpers import free_port

BUCKET = "lenet-test"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Endpoint:
    """Where the test S3 listens and the bucket it holds."""

    url: str
    bucket: str

    def uri(self, *parts: str) -> str:
        """An s3:// URI in the test bucket."""
        return "/".join([f"s3://{self.bucket}", *parts])


def s3_env(url: str) -> dict[str, str]:
    """The environment of an S3 of our own making at `url`: test credentials, and never a credential or
    endpoint looked up elsewhere (no instance metadata, no user config, no proxy)."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": url,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Endpoint]:
    """A moto S3 server on loopback; botocore and s3fs reach it through AWS_ENDPOINT_URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    env = s3_env(url)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    s3fs.S3FileSystem.clear_instance_cache()  # an instance cached before the env changed would talk to AWS
    try:
        # moto keeps its buckets in process-wide state: start every test from an empty S3.
        no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        no_proxy.open(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10).close()
        boto3.client("s3", endpoint_url=url, region_name=REGION).create_bucket(Bucket=BUCKET)
        yield S3Endpoint(url=url, bucket=BUCKET)
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()
