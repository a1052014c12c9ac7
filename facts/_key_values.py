"""Reading facts whose host-side script prints ``key=value`` lines."""


def key_values(output) -> dict[str, str]:
    """The ``key=value`` lines of ``output`` as a dict (later lines win); other lines are
    skipped."""
    values = {}
    for line in output:
        key, sep, value = line.strip().partition("=")
        if sep:
            values[key] = value
    return values
