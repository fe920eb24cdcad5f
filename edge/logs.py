"""Logging that a long-running unit can afford: a condition that repeats (a bad frame, a broker
that cannot be reached) is logged on its 1st and 10th time and then every 100th."""


def worth_logging(count: int) -> bool:
    """True for the occurrences of a repeated condition that are logged."""
    return count in (1, 10) or (count > 0 and count % 100 == 0)
