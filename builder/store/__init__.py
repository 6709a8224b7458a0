"""The only place with SQL: tables, engine and sessions, migrations, queries."""
