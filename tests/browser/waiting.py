"""Waiting in the page until a condition holds, under our Content Security Policy.

Playwright's `wait_for_function` may compile its predicate again in the page while it polls,
which `script-src 'self'` (no 'unsafe-eval') refuses: seen with Playwright 1.65 under load,
once the first check came back false. Here the predicate is part of the one function handed to
`evaluate`, compiled by the DevTools protocol, and the page polls it itself.
"""

from __future__ import annotations

from typing import Any


def until(page: Any, predicate: str, arg: Any = None, timeout_ms: int = 5_000) -> Any:
    """Poll the JavaScript function `predicate(arg)` every 20 ms until it returns a truthy
    value, and return that value; an error after `timeout_ms`."""
    return page.evaluate(
        f"""async (arg) => {{
            const check = {predicate};
            const end = Date.now() + {int(timeout_ms)};
            for (;;) {{
                const value = await check(arg);
                if (value) return value;
                if (Date.now() > end) throw new Error("timed out waiting for: " + check);
                await new Promise((resolve) => setTimeout(resolve, 20));
            }}
        }}""",
        arg,
    )
