"""The run machinery: how one pyinfra run of this deploy is organised across its hosts.

Not facts about a host nor operations that change one, but what the deploys need around
them: gathering a fact from many hosts at once (``gather``), several facts of a host in one
command (``batch``), answers reused while a host has run nothing (``memo``), values computed
once per run for every host (``once``), and barriers that order phases across hosts
(``phases``). Whatever this relies on inside pyinfra, beyond its documented plug-in
interface, goes through ``pyinfra_internals``.
"""
