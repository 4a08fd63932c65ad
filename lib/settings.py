"""Settings dataclasses built from whatever the caller has: a dataclass, a dict or an argparse namespace."""
import dataclasses

from lib.cli import UserError


def settings_from(cls, settings=None, what="setting", **overrides):
    """Return a ``cls`` instance from ``settings`` (a ``cls``, a dict, an argparse namespace or None).

    Keyword ``overrides`` win. Names ``cls`` does not know raise a one-line :class:`UserError`
    (``what`` names the kind of setting in the message), so a typo never passes silently.
    """
    if settings is None:
        values = {}
    elif isinstance(settings, cls):
        values = dataclasses.asdict(settings)
    elif isinstance(settings, dict):
        values = dict(settings)
    else:
        values = dict(vars(settings))
    values.update(overrides)
    known = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise UserError("unknown {}(s): {}".format(what, ", ".join(unknown)))
    return cls(**values)
