"""Who uses the PostgreSQL server right now: whether a restart would cut anyone off."""

from __future__ import annotations

from facts.pg_cluster import psql_query_command, sql_literal
from facts.usage import Fact


class PostgresDatabaseClients(Fact):
    """How many sessions (other than this one) are connected to ``database``: ``3``.

    ``None`` when the server is down or PostgreSQL is absent (run it as ``postgres``).
    """

    def command(self, database, port=5432):
        return psql_query_command(
            "SELECT count(*) FROM pg_stat_activity "
            f"WHERE datname = {sql_literal(database)} AND pid <> pg_backend_pid()",
            port=port,
        )

    def process(self, output):
        lines = [line.strip() for line in output if line.strip()]
        return int(lines[0]) if lines and lines[0].isdigit() else None
