"""The only place with SQL: tables, engine and sessions, migrations, queries.

``db`` opens the database and is the one way into a transaction (``Database.session``);
``models`` holds the tables. Queries live with the table they read or write: ``users``,
``benchmarks``, ``pool`` (ingest batches, records), ``items``, ``annotations``,
``decisions``, ``leases`` (assignments), ``releases``, ``evaluations``, ``runs`` (curation
runs) and ``audit``. Each query exists once, whoever calls it.
"""
