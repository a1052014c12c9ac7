"""Whether PostgreSQL runs the pg_hba.conf on disk: when it last loaded its config files,
against when pg_hba.conf last changed.

``pg_hba_file_rules`` shows what the file says now, not the rules in force: PostgreSQL reads
pg_hba.conf at start and on reload only. A run stopped between editing the file and the reload
leaves the file right and the server on the old rules; this fact lets the next run see it.
"""

from __future__ import annotations

from facts.pg_cluster import shell_double_quote
from facts.usage import Fact

_SQL = ("SELECT extract(epoch FROM pg_conf_load_time()), setting FROM pg_settings "
        "WHERE name = 'hba_file'")


class PgHbaLoaded(Fact):
    """
    When the server on ``port`` last loaded its config (``pg_conf_load_time()``) and when its
    pg_hba.conf was last modified, as seconds since the epoch (run it as ``postgres``); ``{}``
    when the server is down or PostgreSQL is absent.

    .. code:: python

        {"loaded_at": 1795971155.421673, "hba_mtime": 1795971150.120000000}
    """

    default = dict

    def command(self, port=5432) -> str:
        return (
            f"psql -p {int(port)} -AtX -F'|' -c {shell_double_quote(_SQL)} 2>/dev/null | "
            "{ IFS='|' read -r loaded file && [ -n \"$file\" ] && "
            "echo \"$loaded|$(date -r \"$file\" +%s.%N)\"; } || true"
        )

    def process(self, output):
        for line in output:
            loaded, _, mtime = line.strip().partition("|")
            try:
                return {"loaded_at": float(loaded), "hba_mtime": float(mtime)}
            except ValueError:
                continue
        return {}
