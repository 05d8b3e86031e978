"""axe-core (from the npm registry, tests/browser/package.json) run inside a page."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@cache
def _source() -> str:
    return AXE.read_text()


def violations(page: Any) -> list[dict[str, Any]]:
    """The WCAG 2.1 A/AA violations of the page as it is now, each with its rule and nodes.

    The script is evaluated through the DevTools protocol, which the page's
    Content-Security-Policy does not govern, so the policy stays as strict as in production.
    """
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(_source())
    result = page.evaluate(
        "tags => window.axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_21_AA
    )
    return [
        {
            "rule": item["id"],
            "impact": item["impact"],
            "help": item["help"],
            "nodes": [node["target"] for node in item["nodes"]][:5],
        }
        for item in result["violations"]
    ]
