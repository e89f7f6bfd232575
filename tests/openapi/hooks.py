"""Schemathesis hooks for tests/openapi/run.sh, loaded through schemathesis.toml's `hooks`."""

import schemathesis

# The shortest `maxLength` of the document's strings (names).
SHORTEST_LIMIT = 100


@schemathesis.hook
def filter_body(context, body):
    """Leaves out bodies holding a string over a limit only by its surrounding whitespace.

    Text limits hold for the trimmed value (DRF trims, then validates), which `maxLength` cannot
    say: such a string is accepted by design. Every other over-long string stays negative data
    that the server must refuse.
    """
    if not isinstance(body, dict):
        return True
    return not any(
        isinstance(value, str) and len(value) > SHORTEST_LIMIT and value != value.strip()
        for value in body.values()
    )
