"""Facts that answer a usage error with one line instead of a traceback.

Operators ask these facts ad hoc (``pyinfra INVENTORY fact facts.maas.MaasInstall``). pyinfra
3 gathers a fact inside a greenlet per host, and any exception raised there is printed by
gevent as a full traceback, whatever its type. So a fact here never raises for a missing,
unknown or unusable argument: its command becomes one that prints what is wrong on stderr
and exits 2, which pyinfra reports like any fact that cannot load (the host's output, then
``could not load fact``), and a deploy that asks it that way fails that host with the same
line.

pyinfra binds a fact's arguments to its ``command`` signature (``inspect.getcallargs``)
before calling it, and would raise there for a missing one: the declared signature gives
required arguments the default ``MISSING``, and the check happens in the call. A name the
fact does not take still fails in that binding (pyinfra's own ``TypeError``): accepting any
name would need ``**kwargs`` in the signature, which changes the argument string pyinfra
and pyinfra-testing key facts by. Called directly (``FactBatch``), unknown names are
reported like the rest.
"""

from __future__ import annotations

import functools
import inspect
import shlex

from pyinfra.api import FactBase

_EXIT_USAGE = 2


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING = _Missing()


def usage_failure(message: str) -> str:
    """A shell command that fails with ``message`` on stderr."""
    return f"echo {shlex.quote(message)} >&2; exit {_EXIT_USAGE}"


def usage_line(params) -> str:
    """``profile=... [maas_cli=maas]``: what a fact takes, for its messages."""
    words = []
    for param in params:
        if param.default is inspect.Parameter.empty:
            words.append(f"{param.name}=...")
        elif param.default is None:
            words.append(f"[{param.name}=...]")
        else:
            words.append(f"[{param.name}={param.default}]")
    return " ".join(words)


def _checked(command):
    """``command`` with its arguments checked, declared with every argument optional."""
    signature = inspect.signature(command)
    params = list(signature.parameters.values())[1:]  # without self
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        return command  # takes anything: nothing to check
    names = [p.name for p in params]
    required = [p.name for p in params if p.default is p.empty]
    takes = f"it takes {usage_line(params)}" if params else "it takes no arguments"

    @functools.wraps(command)
    def checked(self, *args, **kwargs):
        fact = type(self).name
        unknown = sorted(key for key in kwargs if key not in names)
        if len(args) > len(names):
            unknown.append("(positional)")
        if unknown:
            return usage_failure(f"{fact}: unknown argument {', '.join(unknown)}; {takes}")
        given = dict(zip(names, args))
        given.update({key: value for key, value in kwargs.items() if value is not MISSING})
        missing = [key for key in required if key not in given]
        if missing:
            return usage_failure(f"{fact}: missing argument {', '.join(missing)}; {takes}")
        try:
            return command(self, **given)
        except (TypeError, ValueError) as error:  # an argument of the wrong type or value
            return usage_failure(f"{fact}: {error}; {takes}")

    checked.__signature__ = signature.replace(parameters=[
        list(signature.parameters.values())[0],
        *(p.replace(default=MISSING) if p.default is p.empty else p for p in params),
    ])
    return checked


class Fact(FactBase):
    """The base of this package's facts: usage errors come back as one line (see above)."""

    abstract = True

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()  # pyinfra's own checks see the command as written
        command = cls.__dict__.get("command")
        if callable(command):
            cls.command = _checked(command)
