"""IBM Equal Access (npm `accessibility-checker-engine`, tests/browser/package.json) run inside
a page: a second engine next to axe-core, whose rules find other things (an empty `dir`, a form
without a name)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

ACE = Path(__file__).parent / "node_modules" / "accessibility-checker-engine" / "ace.js"
# The engine's rule set for WCAG 2.1 levels A and AA. Only its findings of kind VIOLATION/FAIL
# count: "potential" ones and recommendations (e.g. that the skip link stands outside every
# landmark, which it must to be first) ask for a person's review, not for a change.
RULESET = "WCAG_2_1"

# Findings judged false positives: by rule id, the CSS selector a flagged element must match to
# be ignored, each with the reason. Anything else the rule finds still fails.
FALSE_POSITIVES = {
    # The staff login's e-mail field says `autocomplete="username"`: the address is the
    # account's user name, and password managers (Chromium's guidance) pair it with the
    # password by that token. The engine allows "username" only on type=text; axe-core allows
    # it on type=email too (axe-core PR #2896).
    "input_autocomplete_valid": 'input[type="email"][autocomplete="username"]',
}

_RUN = """async ([ruleset, ignored]) => {
    const report = await new ace.Checker().check(document, [ruleset]);
    const element = xpath => document.evaluate(
        xpath, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
    return report.results
        .filter(r => r.value[0] === "VIOLATION" && r.value[1] === "FAIL")
        .filter(r => !(r.ruleId in ignored && element(r.path.dom)?.matches(ignored[r.ruleId])))
        .map(r => ({rule: r.ruleId, message: r.message, node: r.path.dom}));
}"""


@cache
def _source() -> str:
    return ACE.read_text()


def violations(page: Any) -> list[dict[str, Any]]:
    """The WCAG 2.1 A/AA violations IBM Equal Access finds in the page as it is now, without
    those listed in FALSE_POSITIVES. Like axe-core, the script is evaluated through the
    DevTools protocol, outside the page's Content-Security-Policy."""
    if not page.evaluate("() => typeof window.ace !== 'undefined'"):
        page.evaluate(_source())
    return list(page.evaluate(_RUN, [RULESET, FALSE_POSITIVES]))[:10]
