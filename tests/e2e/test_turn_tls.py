"""TURN over TLS, for citizens whose network lets only TLS out: the server hands out a `turns:`
URL only, and `sprechstunde probe --relay-only` connects two aiortc peers through coturn's TLS
listener (relay candidates on both sides, allocated over TLS/TCP), verifying coturn's
certificate against the one root it is given."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.common import REQUEST_TIMEOUT, Server, StaffApi
from tests.e2e.video import probe
from tests.turn import TURNSERVER, Coturn, running_coturn

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def coturn_tls(tmp_path: Path) -> Iterator[Coturn]:
    if not TURNSERVER.exists():
        pytest.fail(f"needs {TURNSERVER} (apt-get install coturn)")
    workdir = tmp_path / "coturn"
    workdir.mkdir()
    with running_coturn(workdir, tls=True) as server:
        yield server


def test_relay_only_over_turn_tls(database_url, tmp_path, coturn_tls, monkeypatch):
    env = {
        "SPRECHSTUNDE_TURN_URLS": coturn_tls.turns_url,
        "SPRECHSTUNDE_TURN_SECRET": coturn_tls.secret,
    }
    with Server(database_url, tmp_path / "server", extra_env=env, migrate=False) as server:
        with httpx.Client(base_url=server.base_url, timeout=REQUEST_TIMEOUT) as http:
            StaffApi.bootstrap(server, http)
        # The probe's peers verify coturn's certificate with the default context's roots.
        assert coturn_tls.certificate is not None
        monkeypatch.setenv("SSL_CERT_FILE", str(coturn_tls.certificate))
        code, result = probe(server.base_url, "--relay-only", cwd=tmp_path)

    assert result["connected"] is True, (result, coturn_tls.log_text()[-3000:])
    assert code == 0
    assert result["candidate_types"] == {"local": "relay", "remote": "relay"}
    assert coturn_tls.logged("incoming packet ALLOCATE processed, success")
    # Each peer's allocation came over the TLS listener and ended as a TLS session.
    allocating = set(
        re.findall(r"session (\d+): .*ALLOCATE processed, success", coturn_tls.log_text())
    )
    assert len(allocating) == 2, allocating
    for session in allocating:
        over_tls = f"session {session}: closed (2nd stage)"
        assert coturn_tls.logged(over_tls, timeout=5), session
        closed = next(line for line in coturn_tls.log_text().splitlines() if over_tls in line)
        assert f"local 127.0.0.1:{coturn_tls.tls_port}," in closed, closed
        assert "TLS/TCP connection closed" in closed, closed
