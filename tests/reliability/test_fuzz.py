"""Schemathesis against the ``__openapi__`` document of every example served by a real
``dockyard serve``: no 5xx, and every response as documented (status code, content type,
headers, body schema; 405 with ``Allow``; 401 without a key).

Each example instance gets one run of ``st run`` (the schemathesis 4 command line, run as
``python -m schemathesis.cli``: its pytest plugin fails on pytest 9's items) with a fixed
seed and deterministic generation, so a run sends the same requests every time. The
phases are ``examples``, ``coverage`` (boundary values, wrong types, undeclared verbs,
missing auth) and ``fuzzing``; the stateful phase is left out for time.

Checks: every response-conformance check schemathesis has, plus ``ignored_auth`` (a
request without the key must be refused) and ``unsupported_method`` (an undeclared verb
must be a 405 with ``Allow``). Left out, on purpose: ``positive_data_acceptance`` and
``negative_data_rejection``, which judge input validation against the document. The
document cannot say what methods check themselves (``k`` between 1 and 1000, a
``mime_type`` that parses), and Dockyard coerces leniently by design (``"5"`` -> 5).

Requests are counted in the server's access log, which also must show no 5xx.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Served

pytest.importorskip("schemathesis", reason="schemathesis is in the test extra")

SEED = 20240611
#: Generated cases per operation and phase (the coverage phase adds its own).
MAX_EXAMPLES = 15
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
    "ignored_auth",
)

#: The instances fuzzed: name -> (package or plugin handle, config, is a plugin, the fewest
#: requests its run must send: about 80% of the 2,674 this seed sends in all, so more
#: than 1,000 together).
FUZZED: dict[str, tuple[str, dict[str, Any] | None, bool, int]] = {
    "hello": ("my-package", None, False, 200),
    "kiosk": ("kiosk", None, False, 500),
    "shelf": ("shelf", None, False, 400),
    "review-desk": ("review-desk", None, False, 180),
    # Hermetic: nothing the fuzzer sends makes the server fetch a URL.
    "docsearch": ("docsearch", {"file_importer": {"allow_http": False}}, False, 700),
    "keyword-sentiment": ("keyword-sentiment", None, True, 180),
}
assert sum(floor for *_, floor in FUZZED.values()) >= 1000

_ACCESS = re.compile(r'"(?P<verb>[A-Z]+) (?P<path>\S+) HTTP/[0-9.]+" (?P<status>[0-9]{3})\b')


def _requests(log: str, base: str) -> list[tuple[str, str, int]]:
    """(verb, path, status) of every access-log line for a path under ``base``."""
    return [
        (m["verb"], m["path"], int(m["status"]))
        for m in _ACCESS.finditer(log)
        if m["path"].startswith(base)
    ]


def _settled_log(served: Served, start: int) -> str:
    """The server log written since offset ``start``, once it stops growing (access-log
    lines may trail the responses a little)."""
    size = -1
    for _ in range(50):
        text = served.log()
        if len(text) == size:
            break
        size = len(text)
        time.sleep(0.1)
    return served.log()[start:]


@pytest.mark.parametrize("name", sorted(FUZZED))
def test_fuzzed_responses_are_documented_and_never_5xx(
    reliability_server: Served, tmp_path: Path, name: str
) -> None:
    handle, config, plugin, floor = FUZZED[name]
    served = reliability_server
    base = served.use(handle, f"fuzz-{name}", config, plugin=plugin)
    start = len(served.log())
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{served.url}{base}__openapi__",
        "--header",
        f"Authorization: Bearer {served.key}",
        "--checks",
        ",".join(CHECKS),
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--generation-deterministic",  # and so no example database
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--no-color",
    ]
    # In tmp_path: schemathesis and hypothesis keep files in the working directory.
    done = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    output = done.stdout + done.stderr
    assert served.key not in output  # schemathesis masks the Authorization header
    assert done.returncode == 0, f"schemathesis found problems:\n{output}"

    log = _settled_log(served, start)
    requests = _requests(log, base)
    errors = [r for r in requests if r[2] >= 500]
    assert not errors, f"5xx answers: {errors}\n{log[-5000:]}"
    assert "Traceback" not in log, log
    assert len(requests) >= floor, (len(requests), output)
