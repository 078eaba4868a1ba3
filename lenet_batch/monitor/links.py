"""Links people can click (pure): a file under the output as an http(s) URL, when --report-base-url says
which URL serves the output's root. The webhook, `check` and `runs` carry them; without a base URL they
give the file's URI as it is (a local path or s3://, which a chat client cannot open).

A link is shown with its credentials masked, as every URL this program writes or prints (redaction.py).
"""

import urllib.parse

from lenet_batch.redaction import redact_uri
from lenet_batch.store import storage
from lenet_batch.store.layout import Layout

__all__ = ["history_page", "link", "row_links"]


def link(uri: str | None, output: str, base_url: str) -> str | None:
    """`uri`, a file under `output`, as its URL under `base_url` (which serves the output's root), masked;
    the URI as it is when there is no base URL or the file lies elsewhere."""
    if not uri or not base_url:
        return uri
    root = storage.join(output, "")  # "out/": the prefix every path of the layout starts with
    if not uri.startswith(root):
        return uri
    path = urllib.parse.quote(uri[len(root) :], safe="/")
    return redact_uri(f"{base_url.rstrip('/')}/{path}")


def history_page(layout: Layout, base_url: str) -> str:
    """history.html of the output: its URL under `base_url`, else its URI."""
    page = storage.join(layout.history_dir(), "history.html")
    return link(page, layout.output, base_url) or page


def row_links(report: str | None, layout: Layout, base_url: str) -> dict[str, str | None]:
    """The links a listed night carries (`runs --json`): its report and the history page; none without a
    base URL."""
    if not base_url:
        return {}
    return {
        "report_url": link(report, layout.output, base_url),
        "history_url": history_page(layout, base_url),
    }
