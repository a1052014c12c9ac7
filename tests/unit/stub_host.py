"""A stand-in for pyinfra's ``host`` inside an operation's generator, for tests that run an
operation's ``_inner`` directly: facts from a table, noops recorded, no state beside the
flag ``facts/memo.recall`` reads."""

from types import SimpleNamespace


class StubHost:
    """Just what our operations ask of ``host``: its name, facts from a table, noop."""

    def __init__(self, facts=None, name="k1"):
        self.name = name
        self.facts = facts or {}
        self.noops = []
        self.state = SimpleNamespace(is_executing=False)

    def get_fact(self, fact_cls, **_kwargs):
        return self.facts.get(fact_cls.__name__)

    def noop(self, message):
        self.noops.append(message)
